// The one adapter through which the trainer and evaluator run a TorchScript
// classifier on a batch: it checks the batch against the BatchSource
// contract, calls forward, checks that the result is [N, K] logits, and turns
// LibTorch exceptions into Status with the shapes involved.
#ifndef PRUNESERVE_CORE_TRAINING_BATCH_FORWARD_H_
#define PRUNESERVE_CORE_TRAINING_BATCH_FORWARD_H_

#include <torch/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/data/batch_source.h"

namespace torch {
namespace jit {
struct Module;
}  // namespace jit
}  // namespace torch

namespace pruneserve::training {

// OK when `batch` has float images [N, C, H, W] and int64 labels [N] in
// [0, num_classes) with N > 0; INVALID_ARGUMENT naming the problem otherwise.
absl::Status ValidateBatch(const data::Batch& batch, int64_t num_classes);

// Runs model.forward(images) and returns its logits [N, K] with K ==
// `num_classes`. Honours the caller's grad mode. Returns INVALID_ARGUMENT
// (with the input shape) when forward throws or returns anything else.
// Blocks for the duration of the forward pass.
absl::StatusOr<torch::Tensor> ForwardLogits(torch::jit::Module& model,
                                            const torch::Tensor& images,
                                            int64_t num_classes);

// "[a,b,c]" for error messages; "undefined" for an undefined tensor.
std::string ShapeString(const torch::Tensor& t);

}  // namespace pruneserve::training

#endif  // PRUNESERVE_CORE_TRAINING_BATCH_FORWARD_H_
