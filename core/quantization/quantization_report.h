// Human-readable rendering of a pruneserve.v1.QuantizationReport: the
// calibration settings, float vs INT8 accuracy, and one row per quantized
// tensor (kind, fix_point, max |x|, range, MSE, SNR).
#ifndef PRUNESERVE_CORE_QUANTIZATION_QUANTIZATION_REPORT_H_
#define PRUNESERVE_CORE_QUANTIZATION_QUANTIZATION_REPORT_H_

#include <string>

#include "pruneserve/v1/quantization.pb.h"

namespace pruneserve::quantization {

struct QuantizationReportRenderOptions {
  // List weights and biases as well as activations.
  bool include_params = true;
  // Truncate tensor names longer than this (keeps the table aligned).
  int max_name_width = 40;
};

// Returns a fixed-width text table ending in a newline. Never fails.
std::string RenderQuantizationReport(
    const v1::QuantizationReport& report,
    const QuantizationReportRenderOptions& options = {});

// "weight", "bias", "activation" ("?" for unspecified).
const char* QuantizedTensorKindName(v1::QuantizedTensor::Kind kind);

}  // namespace pruneserve::quantization

#endif  // PRUNESERVE_CORE_QUANTIZATION_QUANTIZATION_REPORT_H_
