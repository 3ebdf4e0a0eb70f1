// DPU-style INT8 post-training quantization, simulated on the CPU. Given a
// TorchScript CNN (conv/BN/ReLU/pool/add/cat/flatten/linear/adaptive pool),
// it folds BatchNorm into the convs, gives every weight, bias and activation
// a power-of-two fix_point (fix_point.h) chosen from calibration data, and
// builds a runnable TorchScript module that quantizes and dequantizes at
// exactly those tensors (fake_quant_graph.h lists them), so its outputs are
// what an INT8 DPU would compute up to accumulator rounding. With an
// evaluation set it also reports float and INT8 accuracy.
//
// This is how the service estimates the accuracy cost of DPU deployment and
// picks a calibration method before the model goes through the Vitis AI
// quantizer and compiler.
#ifndef PRUNESERVE_CORE_QUANTIZATION_DPU_QUANTIZER_H_
#define PRUNESERVE_CORE_QUANTIZATION_DPU_QUANTIZER_H_

#include <torch/script.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "core/data/batch_source.h"
#include "core/quantization/fix_point.h"
#include "core/quantization/quantization_options.h"
#include "core/util/cancellation_token.h"
#include "pruneserve/v1/quantization.pb.h"

namespace pruneserve::quantization {

struct QuantizationResult {
  // The input with BatchNorm folded into the convs, in float.
  torch::jit::Module folded_float;
  // folded_float with quantized weights and biases and quantize-dequantize
  // ops at every activation point: forward(x) gives the INT8-simulated
  // output. Saves and loads like any TorchScript module.
  torch::jit::Module fake_quantized;
  v1::QuantizationReport report;
};

// Quantizes `model` as described above. `calibration` is read from epoch 0
// until options.calibration_examples examples were seen; `eval`, when not
// null, is evaluated in full for both the float model and the INT8
// simulation. `cancel` is polled before every batch and may be null.
//
// Returns INVALID_ARGUMENT for bad options or batches the model rejects,
// FAILED_PRECONDITION for a model whose forward cannot be analysed or has a
// conv/linear weight that is not a parameter, or for an empty calibration
// source, CANCELLED when `cancel` fires, and the sources' own errors. Blocks
// for the whole run. `model` is not modified (its train/eval mode is
// restored), but it must not be used concurrently; neither may the sources.
absl::StatusOr<QuantizationResult> QuantizeForDpu(
    const torch::jit::Module& model, const QuantizationOptions& options,
    data::BatchSource& calibration, data::BatchSource* eval,
    const util::CancellationToken* cancel = nullptr);

}  // namespace pruneserve::quantization

#endif  // PRUNESERVE_CORE_QUANTIZATION_DPU_QUANTIZER_H_
