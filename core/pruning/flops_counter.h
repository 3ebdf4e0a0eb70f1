// Multiply-accumulate (MAC) and parameter counts of a TorchScript module at a
// given input shape, per conv/linear layer and in total. Shapes come from one
// forward pass of the inlined graph, so it works on any scripted or traced
// model, pruned or not, without the pruning engine. Usable on its own (the
// model repository records the FLOPs of uploaded models with it).
#ifndef PRUNESERVE_CORE_PRUNING_FLOPS_COUNTER_H_
#define PRUNESERVE_CORE_PRUNING_FLOPS_COUNTER_H_

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"

namespace torch::jit {
struct Module;
struct Value;
}  // namespace torch::jit

namespace pruneserve::pruning {

struct LayerCost {
  // Module path of the layer ("features.0"), or "<op>#<n>" when the weight
  // is not a module attribute.
  std::string name;
  // "conv" or "linear".
  std::string kind;
  // MACs for the whole input batch: output elements times the reduction
  // size (Cin/groups * kh * kw for a conv, in_features for a linear).
  int64_t macs = 0;
  // Elements of the layer's weight and bias.
  int64_t params = 0;
  std::vector<int64_t> output_shape;
};

struct ModelCost {
  std::vector<LayerCost> layers;
  // Sum of layers[].macs. Element-wise ops, BN and pooling are not counted.
  int64_t total_macs = 0;
  // Elements of every parameter of the module (buffers excluded).
  int64_t total_params = 0;
};

// Runs `module` once on zeros of `input_shape` (eval mode, no grad; training
// flags are restored) and counts. Returns InvalidArgument when the module
// does not run on that shape, FailedPrecondition when forward cannot be
// inlined. Blocks for one forward pass; do not use the module concurrently.
absl::StatusOr<ModelCost> CountModelCost(
    const torch::jit::Module& module, const std::vector<int64_t>& input_shape);

namespace internal {
class InlinedForward;
// The count from shapes already recorded on `forward`'s graph (what the
// channel analysis records), without another forward pass. Returns
// Internal when a counted value has no recorded shape.
absl::StatusOr<ModelCost> CostFromShapes(
    const InlinedForward& forward,
    const std::unordered_map<const torch::jit::Value*, std::vector<int64_t>>&
        shapes);
}  // namespace internal

}  // namespace pruneserve::pruning

#endif  // PRUNESERVE_CORE_PRUNING_FLOPS_COUNTER_H_
