// Folding BatchNorm into the convolution that feeds it, the first step of
// DPU deployment: the DPU has no BatchNorm, so conv(x) followed by
// BN(y) = gamma * (y - mean) / sqrt(var + eps) + beta becomes one conv with
//   weight' = weight * s,  bias' = (bias - mean) * s + beta,
//   s = gamma / sqrt(var + eps)   (per output channel, running statistics).
// The result computes what the original computes in eval mode.
#ifndef PRUNESERVE_CORE_QUANTIZATION_BATCH_NORM_FOLDING_H_
#define PRUNESERVE_CORE_QUANTIZATION_BATCH_NORM_FOLDING_H_

#include <torch/script.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace pruneserve::quantization {

struct FoldedBatchNorm {
  // Module paths, e.g. "features.conv0" and "features.bn0".
  std::string conv;
  std::string batch_norm;
};

struct BatchNormFoldResult {
  // A deep copy of the input whose forward is the inlined graph with every
  // foldable BatchNorm removed. Folded conv weights and biases replace the
  // conv's own; a conv that had no bias gets a new root parameter
  // "<conv path with _>_folded_bias". The BatchNorm submodules stay in the
  // module tree but are no longer called.
  torch::jit::Module module;
  std::vector<FoldedBatchNorm> folded;
  // BatchNorms left in place, with the reason (e.g. "input is not a conv").
  std::vector<std::string> skipped;
};

// Folds every aten::batch_norm whose input is the output of a (non-
// transposed) conv used by nothing else, whose conv weight is not shared
// with another layer, and whose running statistics are tensors. `model` is
// not modified. Returns FAILED_PRECONDITION when the model's forward cannot
// be analysed (it must take one tensor), INTERNAL when the rewritten graph
// is rejected. Blocks; not thread-safe with respect to `model`.
absl::StatusOr<BatchNormFoldResult> FoldBatchNorms(
    const torch::jit::Module& model);

}  // namespace pruneserve::quantization

#endif  // PRUNESERVE_CORE_QUANTIZATION_BATCH_NORM_FOLDING_H_
