// Power-of-two fixed-point arithmetic; see fix_point.h for the conventions.
#include "core/quantization/fix_point.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace pruneserve::quantization {

absl::StatusOr<CalibrationMethod> ParseCalibrationMethod(absl::string_view s) {
  const std::string lower = absl::AsciiStrToLower(s);
  if (lower == "max") return CalibrationMethod::kMax;
  if (lower == "percentile") return CalibrationMethod::kPercentile;
  if (lower == "mse") return CalibrationMethod::kMse;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown calibration method \"", s,
                   "\"; expected one of max, percentile, mse"));
}

const char* CalibrationMethodName(CalibrationMethod method) {
  switch (method) {
    case CalibrationMethod::kMax:
      return "max";
    case CalibrationMethod::kPercentile:
      return "percentile";
    case CalibrationMethod::kMse:
      return "mse";
  }
  return "unknown";
}

int64_t QuantMin(int bit_width) { return -(int64_t{1} << (bit_width - 1)); }
int64_t QuantMax(int bit_width) { return (int64_t{1} << (bit_width - 1)) - 1; }

double FixPointScale(int fix_point) { return std::ldexp(1.0, fix_point); }

double RoundHalfUp(double x) {
  // floor(x + 0.5) would round in the addition for values just below a tie;
  // floor(x) and x - floor(x) are exact for every finite double.
  const double down = std::floor(x);
  return x - down >= 0.5 ? down + 1.0 : down;
}

int64_t QuantizeValue(double x, int fix_point, int bit_width) {
  if (std::isnan(x)) return 0;
  const double lo = static_cast<double>(QuantMin(bit_width));
  const double hi = static_cast<double>(QuantMax(bit_width));
  const double q = RoundHalfUp(std::ldexp(x, fix_point));
  return static_cast<int64_t>(std::clamp(q, lo, hi));
}

double DequantizeValue(int64_t q, int fix_point) {
  return std::ldexp(static_cast<double>(q), -fix_point);
}

double FakeQuantizeValue(double x, int fix_point, int bit_width) {
  return DequantizeValue(QuantizeValue(x, fix_point, bit_width), fix_point);
}

int FixPointForRange(double range, int bit_width) {
  if (!(range > 0.0)) return kMaxFixPoint;
  if (std::isinf(range)) return kMinFixPoint;
  const double qmax = static_cast<double>(QuantMax(bit_width));
  // log2 gives the neighbourhood; the ldexp checks make the answer exact.
  double estimate = std::floor(std::log2(qmax / range));
  estimate =
      std::clamp(estimate, double{kMinFixPoint} - 1, double{kMaxFixPoint} + 1);
  int f = static_cast<int>(estimate);
  while (f > kMinFixPoint && std::ldexp(range, f) > qmax) --f;
  while (f < kMaxFixPoint && std::ldexp(range, f + 1) <= qmax) ++f;
  return std::clamp(f, kMinFixPoint, kMaxFixPoint);
}

double MaxAbs(absl::Span<const float> values) {
  double m = 0.0;
  for (float v : values) {
    const double a = std::fabs(static_cast<double>(v));
    if (a > m) m = a;  // false for NaN
  }
  return m;
}

double PercentileAbs(absl::Span<const float> values, double percentile) {
  if (values.empty()) return 0.0;
  std::vector<float> abs(values.size());
  for (size_t i = 0; i < values.size(); ++i) abs[i] = std::fabs(values[i]);
  const double p = std::clamp(percentile, 0.0, 100.0);
  const double n = static_cast<double>(abs.size());
  int64_t rank = static_cast<int64_t>(std::ceil(p / 100.0 * n));
  rank = std::clamp<int64_t>(rank, 1, static_cast<int64_t>(abs.size()));
  auto nth = abs.begin() + (rank - 1);
  std::nth_element(abs.begin(), nth, abs.end());
  return *nth;
}

double QuantizationMse(absl::Span<const float> values, int fix_point,
                       int bit_width) {
  if (values.empty()) return 0.0;
  double sum = 0.0;
  for (float v : values) {
    const double x = v;
    const double e = FakeQuantizeValue(x, fix_point, bit_width) - x;
    sum += e * e;
  }
  return sum / static_cast<double>(values.size());
}

double QuantizationSnrDb(absl::Span<const float> values, int fix_point,
                         int bit_width) {
  double signal = 0.0;
  for (float v : values) signal += static_cast<double>(v) * v;
  const double noise = QuantizationMse(values, fix_point, bit_width) *
                       static_cast<double>(values.size());
  if (noise == 0.0) return std::numeric_limits<double>::infinity();
  if (signal == 0.0) return -std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}

int MseFixPoint(absl::Span<const float> values, double max_abs, int bit_width) {
  const int f_max = FixPointForRange(max_abs, bit_width);
  int best = f_max;
  double best_mse = QuantizationMse(values, f_max, bit_width);
  for (int f = std::max(f_max - 1, kMinFixPoint);
       f <= std::min(f_max + kMseSearchSteps, kMaxFixPoint); ++f) {
    if (f == f_max) continue;
    const double mse = QuantizationMse(values, f, bit_width);
    if (mse < best_mse || (mse == best_mse && f < best)) {
      best = f;
      best_mse = mse;
    }
  }
  return best;
}

FixPointChoice ChooseFixPoint(CalibrationMethod method,
                              absl::Span<const float> values, double max_abs,
                              double percentile, int bit_width) {
  FixPointChoice choice;
  // Without observed values only the maximum is known.
  if (values.empty()) method = CalibrationMethod::kMax;
  switch (method) {
    case CalibrationMethod::kMax:
      choice.range = max_abs;
      choice.fix_point = FixPointForRange(max_abs, bit_width);
      break;
    case CalibrationMethod::kPercentile:
      choice.range = std::min(PercentileAbs(values, percentile), max_abs);
      choice.fix_point = FixPointForRange(choice.range, bit_width);
      break;
    case CalibrationMethod::kMse:
      choice.fix_point = MseFixPoint(values, max_abs, bit_width);
      choice.range = DequantizeValue(QuantMax(bit_width), choice.fix_point);
      break;
  }
  return choice;
}

}  // namespace pruneserve::quantization
