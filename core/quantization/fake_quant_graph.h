// Where a DPU-style INT8 model is quantized, and how the simulation is
// inserted into a TorchScript graph. Quantized tensors:
//   - weights and biases of every conv and linear layer (per tensor);
//   - activations: the network input, the input of every conv and linear
//     layer (after ReLU and pooling, i.e. what the DPU reads from memory),
//     the output of every residual add, and the network output.
// Each activation value is quantized once even when several layers read it.
// Concatenation inputs are not forced to share a fix_point (the compiler
// does that on the DPU), so models with torch.cat are simulated slightly
// optimistically. Internal to core/quantization.
#ifndef PRUNESERVE_CORE_QUANTIZATION_FAKE_QUANT_GRAPH_H_
#define PRUNESERVE_CORE_QUANTIZATION_FAKE_QUANT_GRAPH_H_

#include <torch/script.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/pruning/inlined_forward.h"

namespace pruneserve::quantization::internal {

enum class ParamKind { kWeight, kBias };

// A layer parameter to quantize, identified by its attribute path.
struct ParamPoint {
  std::string path;
  ParamKind kind = ParamKind::kWeight;
};

// An activation to quantize: a tensor value of the top-level block.
struct ActivationPoint {
  std::string name;
  torch::jit::Value* value = nullptr;
};

struct QuantPoints {
  std::vector<ParamPoint> params;
  std::vector<ActivationPoint> activations;
};

// Lists the quantization points of `forward`'s graph in graph order. Two
// copies of one graph give identical lists. FAILED_PRECONDITION when a
// conv/linear weight is not a module attribute (it could not be quantized
// ahead of time) or the model has no conv or linear layer.
absl::StatusOr<QuantPoints> FindQuantPoints(
    const pruning::internal::InlinedForward& forward);

// Inserts quantize-dequantize ops (DPU rounding, ties up; clamp to the
// bit_width range) after every activation of `points` with the matching
// entry of `fix_points`, in `forward`'s graph, and installs that graph as
// the forward of `forward.module()`, which must own its class type.
// INTERNAL when TorchScript rejects the rewritten graph.
absl::Status InstallFakeQuant(pruning::internal::InlinedForward& forward,
                              const std::vector<ActivationPoint>& points,
                              const std::vector<int>& fix_points,
                              int bit_width);

}  // namespace pruneserve::quantization::internal

#endif  // PRUNESERVE_CORE_QUANTIZATION_FAKE_QUANT_GRAPH_H_
