// Text rendering of a QuantizationReport; see quantization_report.h.
#include "core/quantization/quantization_report.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace pruneserve::quantization {

const char* QuantizedTensorKindName(v1::QuantizedTensor::Kind kind) {
  switch (kind) {
    case v1::QuantizedTensor::WEIGHT:
      return "weight";
    case v1::QuantizedTensor::BIAS:
      return "bias";
    case v1::QuantizedTensor::ACTIVATION:
      return "activation";
    default:
      return "?";
  }
}

namespace {

std::string Snr(double db) {
  if (std::isinf(db)) return db > 0 ? "inf" : "-inf";
  return absl::StrFormat("%.1f", db);
}

}  // namespace

std::string RenderQuantizationReport(
    const v1::QuantizationReport& report,
    const QuantizationReportRenderOptions& options) {
  auto shown = [&](const v1::QuantizedTensor& t) {
    return options.include_params ||
           t.kind() == v1::QuantizedTensor::ACTIVATION;
  };
  int width = 6;
  for (const auto& t : report.tensors()) {
    if (shown(t)) width = std::max(width, static_cast<int>(t.name().size()));
  }
  width = std::min(width, std::max(options.max_name_width, 6));
  std::string out =
      absl::StrFormat("quantization report: int%d, activations=%s",
                      report.bit_width(), report.method());
  if (report.method() == "percentile") {
    absl::StrAppendFormat(&out, "(%g)", report.percentile());
  }
  absl::StrAppendFormat(&out, " weights=%s calibration=%d\n",
                        report.weight_method(), report.calibration_examples());
  absl::StrAppendFormat(
      &out, "folded BatchNorms: %d (max |float - folded| %.3g)\n",
      report.folded_batch_norms(), report.folding_max_abs_diff());
  absl::StrAppendFormat(&out, "%-*s %-10s %9s %10s %10s %10s %7s\n", width,
                        "tensor", "kind", "fix_point", "max|x|", "range", "mse",
                        "snr_dB");
  for (const auto& t : report.tensors()) {
    if (!shown(t)) continue;
    std::string name = t.name();
    if (static_cast<int>(name.size()) > width) {
      name = "..." + name.substr(name.size() - width + 3);
    }
    absl::StrAppendFormat(&out, "%-*s %-10s %9d %10.4g %10.4g %10.3g %7s\n",
                          width, name, QuantizedTensorKindName(t.kind()),
                          t.fix_point(), t.max_abs(), t.range(), t.mse(),
                          Snr(t.snr_db()));
  }
  if (report.evaluated()) {
    absl::StrAppendFormat(
        &out,
        "accuracy on %d examples: float top-1 %.2f%% top-5 %.2f%%, int%d "
        "top-1 %.2f%% top-5 %.2f%% (drop %.2f / %.2f points)\n",
        report.evaluation_examples(), 100 * report.float_top1(),
        100 * report.float_top5(), report.bit_width(), 100 * report.int8_top1(),
        100 * report.int8_top5(), 100 * report.top1_drop(),
        100 * report.top5_drop());
  } else {
    absl::StrAppend(&out, "accuracy: not evaluated\n");
  }
  for (const auto& w : report.warnings()) {
    absl::StrAppend(&out, "warning: ", w, "\n");
  }
  absl::StrAppendFormat(&out, "%d tensors quantized in %.1f ms\n",
                        report.tensors_size(), report.elapsed_ms());
  return out;
}

}  // namespace pruneserve::quantization
