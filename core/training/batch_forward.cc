// Batch validation and the guarded forward call; see batch_forward.h.
#include "core/training/batch_forward.h"

#include <torch/script.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/util/torch_status.h"

namespace pruneserve::training {

std::string ShapeString(const torch::Tensor& t) {
  if (!t.defined()) return "undefined";
  return absl::StrCat("[", absl::StrJoin(t.sizes(), ","), "]");
}

absl::Status ValidateBatch(const data::Batch& batch, int64_t num_classes) {
  const torch::Tensor& x = batch.images;
  const torch::Tensor& y = batch.labels;
  if (!x.defined() || x.dim() != 4 || x.size(0) == 0 ||
      !x.is_floating_point()) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch images must be float [N,C,H,W] with N > 0, got ",
                     ShapeString(x)));
  }
  if (!y.defined() || y.dim() != 1 || y.size(0) != x.size(0) ||
      y.scalar_type() != torch::kLong) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch labels must be int64 [", x.size(0), "], got ", ShapeString(y)));
  }
  try {
    const int64_t lo = y.min().item<int64_t>();
    const int64_t hi = y.max().item<int64_t>();
    if (lo < 0 || hi >= num_classes) {
      return absl::InvalidArgumentError(
          absl::StrCat("batch labels span [", lo, ", ", hi, "], outside [0, ",
                       num_classes, ")"));
    }
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "label range check");
  }
  return absl::OkStatus();
}

absl::StatusOr<torch::Tensor> ForwardLogits(torch::jit::Module& model,
                                            const torch::Tensor& images,
                                            int64_t num_classes) {
  c10::IValue out;
  try {
    std::vector<c10::IValue> inputs{images};
    out = model.forward(std::move(inputs));
  } catch (const std::exception& e) {
    return TorchErrorToStatus(
        e, absl::StrCat("forward(input ", ShapeString(images), ")"));
  }
  if (!out.isTensor()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "forward returned ", out.tagKind(), ", expected a logits tensor"));
  }
  torch::Tensor logits = out.toTensor();
  if (logits.dim() != 2 || logits.size(0) != images.size(0) ||
      logits.size(1) != num_classes) {
    return absl::InvalidArgumentError(
        absl::StrCat("forward(input ", ShapeString(images), ") returned ",
                     ShapeString(logits), ", expected [", images.size(0), ",",
                     num_classes, "]"));
  }
  return logits;
}

}  // namespace pruneserve::training
