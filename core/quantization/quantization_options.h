// What a DPU quantization run (core/quantization/dpu_quantizer.h) is asked
// to do, apart from the quantizer so that code which only fills or
// documents the options (job specs, command-line help) needs no LibTorch.
// The initialisers are the quantizer's defaults and the only place they are
// written down.
#ifndef PRUNESERVE_CORE_QUANTIZATION_QUANTIZATION_OPTIONS_H_
#define PRUNESERVE_CORE_QUANTIZATION_QUANTIZATION_OPTIONS_H_

#include <cstdint>
#include <vector>

#include "core/quantization/fix_point.h"

namespace pruneserve::quantization {

struct QuantizationOptions {
  // Range method for activations.
  CalibrationMethod method = CalibrationMethod::kMax;
  // Range method for weights and biases (max keeps every weight in range;
  // mse may clip a few outliers for finer resolution).
  CalibrationMethod weight_method = CalibrationMethod::kMax;
  // Percentile of |x| used by kPercentile, in (0, 100].
  double percentile = 99.99;
  // Calibration examples taken from the start of the calibration source's
  // epoch 0 (fewer if the source is smaller). Must be >= 1.
  int64_t calibration_examples = 256;
  // Bits per quantized value, in [2, 16]; the DPU uses 8.
  int bit_width = 8;
  // When non-empty, a shape [N, C, H, W] the model is checked against with a
  // zero input before calibration (a clearer error than a failing batch).
  std::vector<int64_t> input_shape;
  // Percentile and MSE are computed on a random sample of each activation
  // of at most this many values (the maximum is always exact).
  int64_t max_samples_per_tensor = int64_t{1} << 18;
  // Seeds the activation sampling.
  uint64_t seed = 0;
  // k of the second accuracy in the report.
  int64_t top_k = 5;
};

}  // namespace pruneserve::quantization

#endif  // PRUNESERVE_CORE_QUANTIZATION_QUANTIZATION_OPTIONS_H_
