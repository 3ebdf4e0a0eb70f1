// Graph helpers shared by BatchNorm folding and fake-quant insertion:
// recognising the conv and linear nodes of an inlined TorchScript graph,
// reading scalar arguments, and replacing a module's forward method with a
// rewritten graph. Internal to core/quantization.
#ifndef PRUNESERVE_CORE_QUANTIZATION_LAYER_NODES_H_
#define PRUNESERVE_CORE_QUANTIZATION_LAYER_NODES_H_

#include <torch/script.h>

#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "core/pruning/inlined_forward.h"

namespace pruneserve::quantization::internal {

// aten::conv2d / conv1d / conv3d, and aten::_convolution when not transposed
// (traced models). Input 0 is the activation, 1 the weight, 2 the bias.
bool IsConvNode(const torch::jit::Node* node);

// aten::linear (input, weight, bias).
bool IsLinearNode(const torch::jit::Node* node);

// aten::add of two tensors (a residual join), not a tensor plus a scalar.
bool IsTensorAddNode(const torch::jit::Node* node);

// The double a value holds when it is a constant or a float attribute.
std::optional<double> DoubleValue(
    const pruning::internal::InlinedForward& forward,
    const torch::jit::Value* v);

// Replaces `module`'s forward with a copy of `graph` (whose self input must
// have the module's type). The module must own its class type (a clone).
// INTERNAL when TorchScript rejects the graph.
absl::Status InstallForward(torch::jit::Module& module,
                            const std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace pruneserve::quantization::internal

#endif  // PRUNESERVE_CORE_QUANTIZATION_LAYER_NODES_H_
