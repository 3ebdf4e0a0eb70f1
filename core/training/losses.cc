// Loss functions for the trainer; see losses.h for the formulas.
#include "core/training/losses.h"

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/util/torch_status.h"

namespace pruneserve::training {
namespace {

std::string ShapeOf(const torch::Tensor& t) {
  if (!t.defined()) return "undefined";
  return absl::StrCat("[", absl::StrJoin(t.sizes(), ","), "]");
}

}  // namespace

absl::StatusOr<torch::Tensor> CrossEntropyLoss(const torch::Tensor& logits,
                                               const torch::Tensor& labels,
                                               double label_smoothing) {
  if (!(label_smoothing >= 0.0 && label_smoothing < 1.0)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "label smoothing must be in [0, 1), got %g", label_smoothing));
  }
  if (!logits.defined() || !labels.defined() || logits.dim() != 2 ||
      labels.dim() != 1 || logits.size(0) != labels.size(0) ||
      logits.size(1) < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cross-entropy wants logits [N,K] and labels [N]; got ",
                     ShapeOf(logits), " and ", ShapeOf(labels)));
  }
  try {
    const int64_t num_classes = logits.size(1);
    if (labels.numel() > 0) {
      const int64_t lo = labels.min().item<int64_t>();
      const int64_t hi = labels.max().item<int64_t>();
      if (lo < 0 || hi >= num_classes) {
        return absl::InvalidArgumentError(
            absl::StrFormat("labels must be in [0, %d), got range [%d, %d]",
                            num_classes, lo, hi));
      }
    }
    torch::Tensor log_probs = torch::log_softmax(logits, /*dim=*/1);
    torch::Tensor nll =
        -log_probs.gather(1, labels.to(torch::kLong).unsqueeze(1)).squeeze(1);
    if (label_smoothing == 0.0) return nll.mean();
    torch::Tensor uniform = -log_probs.mean(/*dim=*/1);
    return ((1.0 - label_smoothing) * nll + label_smoothing * uniform).mean();
  } catch (const std::exception& e) {
    return TorchErrorToStatus(
        e, absl::StrCat("cross_entropy(logits ", ShapeOf(logits), ", labels ",
                        ShapeOf(labels), ")"));
  }
}

absl::StatusOr<torch::Tensor> DistillationLoss(
    const torch::Tensor& student_logits, const torch::Tensor& teacher_logits,
    double temperature) {
  if (!(temperature > 0)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "distillation temperature must be > 0, got %g", temperature));
  }
  if (!student_logits.defined() || !teacher_logits.defined() ||
      student_logits.dim() != 2 ||
      student_logits.sizes() != teacher_logits.sizes()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "distillation wants equal [N,K] logits; got student ",
        ShapeOf(student_logits), ", teacher ", ShapeOf(teacher_logits)));
  }
  try {
    const int64_t batch = std::max<int64_t>(student_logits.size(0), 1);
    torch::Tensor student_log_p =
        torch::log_softmax(student_logits / temperature, /*dim=*/1);
    torch::Tensor teacher_log_p =
        torch::log_softmax(teacher_logits.detach() / temperature, /*dim=*/1);
    torch::Tensor kl =
        (teacher_log_p.exp() * (teacher_log_p - student_log_p)).sum();
    return kl * (temperature * temperature / static_cast<double>(batch));
  } catch (const std::exception& e) {
    return TorchErrorToStatus(
        e, absl::StrCat("distillation(student ", ShapeOf(student_logits),
                        ", teacher ", ShapeOf(teacher_logits), ")"));
  }
}

}  // namespace pruneserve::training
