// Power-of-two fixed-point arithmetic as the DPU uses it, free of LibTorch so
// it can be tested exactly and reused by the VART backend. A tensor of
// bit width b is stored as signed integers q in [-2^(b-1), 2^(b-1) - 1] with
// one `fix_point` per tensor: the real value is q * 2^-fix_point, and a real
// x becomes q = clamp(round(x * 2^fix_point)).
//
// Rounding is the DPU's: ties go towards +infinity (2.5 -> 3, -2.5 -> -2,
// -0.5 -> 0), i.e. q = floor(x * 2^fix_point + 0.5) computed exactly.
//
// Choosing a fix_point from a range r (a positive real): the largest
// fix_point at which r does not saturate, i.e. the largest f with
// r * 2^f <= 2^(b-1) - 1. At 8 bits, r = 1.0 gives 6 (127/64 = 1.98 is the
// largest representable value), r = 127/128 gives 7, r = 0.5 gives 7.
#ifndef PRUNESERVE_CORE_QUANTIZATION_FIX_POINT_H_
#define PRUNESERVE_CORE_QUANTIZATION_FIX_POINT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace pruneserve::quantization {

// Bounds on any fix_point this module returns; ranges so small or large that
// they would need more are clamped (an all-zero tensor gets kMaxFixPoint).
inline constexpr int kMinFixPoint = -64;
inline constexpr int kMaxFixPoint = 64;

// How the range of a tensor is chosen from observed values.
enum class CalibrationMethod {
  // The largest |x| seen: nothing saturates.
  kMax,
  // The p-th percentile of |x|: outliers saturate, small values get more
  // resolution.
  kPercentile,
  // The fix_point (among the max-derived one and a few finer ones) that
  // minimises the mean squared quantization error over the observed values.
  kMse,
};

// "max", "percentile", "mse" (case-insensitive). INVALID_ARGUMENT naming the
// accepted values otherwise.
absl::StatusOr<CalibrationMethod> ParseCalibrationMethod(absl::string_view s);
// kMax -> "max" etc.
const char* CalibrationMethodName(CalibrationMethod method);

// Integer bounds of a signed `bit_width`-bit value, e.g. -128 and 127.
// bit_width must be in [2, 16].
int64_t QuantMin(int bit_width);
int64_t QuantMax(int bit_width);

// 2^fix_point as a double (exact for |fix_point| <= kMaxFixPoint).
double FixPointScale(int fix_point);

// The DPU rounding described above, exact for every finite double.
double RoundHalfUp(double x);

// q = clamp(round(x * 2^fix_point), QuantMin, QuantMax). NaN maps to 0.
int64_t QuantizeValue(double x, int fix_point, int bit_width = 8);

// q * 2^-fix_point.
double DequantizeValue(int64_t q, int fix_point);

// DequantizeValue(QuantizeValue(x)): what the DPU computes with instead of x.
double FakeQuantizeValue(double x, int fix_point, int bit_width = 8);

// The largest fix_point at which `range` does not saturate, clamped to
// [kMinFixPoint, kMaxFixPoint]; kMaxFixPoint for range <= 0 or NaN.
int FixPointForRange(double range, int bit_width = 8);

// Largest |x| of `values` (0 for an empty span; NaNs are ignored).
double MaxAbs(absl::Span<const float> values);

// The p-th percentile (p in (0, 100]) of |x| over `values`, by the
// nearest-rank definition: the smallest |x| such that at least p % of the
// values are <= it. 0 for an empty span.
double PercentileAbs(absl::Span<const float> values, double percentile);

// Mean of (FakeQuantizeValue(x) - x)^2 over `values` (0 when empty).
double QuantizationMse(absl::Span<const float> values, int fix_point,
                       int bit_width = 8);

// Signal-to-quantization-noise ratio in dB: 10 log10(mean x^2 / mse);
// +infinity when the error is zero, -infinity when the signal is.
double QuantizationSnrDb(absl::Span<const float> values, int fix_point,
                         int bit_width = 8);

// How many candidates finer than the max-derived fix_point the MSE search
// tries (it also tries one coarser).
inline constexpr int kMseSearchSteps = 6;

// The fix_point in [f_max - 1, f_max + kMseSearchSteps] with the smallest
// QuantizationMse over `values`, where f_max = FixPointForRange(max_abs);
// ties prefer the coarser (smaller) fix_point. Because f_max is a candidate,
// the result's MSE never exceeds the max method's.
int MseFixPoint(absl::Span<const float> values, double max_abs,
                int bit_width = 8);

struct FixPointChoice {
  int fix_point = 0;
  // The range the fix_point was derived from (max, percentile) or, for MSE,
  // the largest value representable without saturation.
  double range = 0.0;
};

// Applies `method` to `values`. `max_abs` is the true largest |x| of the
// tensor (`values` may be a sample of it). `percentile` is only read by
// kPercentile. An empty `values` falls back to kMax.
FixPointChoice ChooseFixPoint(CalibrationMethod method,
                              absl::Span<const float> values, double max_abs,
                              double percentile, int bit_width = 8);

}  // namespace pruneserve::quantization

#endif  // PRUNESERVE_CORE_QUANTIZATION_FIX_POINT_H_
