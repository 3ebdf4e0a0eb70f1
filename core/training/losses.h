// Training objectives: cross-entropy with optional label smoothing, and the
// knowledge-distillation term (Hinton et al.) that pulls a student's
// temperature-softened distribution towards a teacher's. Both reduce to a
// scalar mean over the batch and are differentiable w.r.t. the student logits.
#ifndef PRUNESERVE_CORE_TRAINING_LOSSES_H_
#define PRUNESERVE_CORE_TRAINING_LOSSES_H_

#include <torch/types.h>

#include "absl/status/statusor.h"

namespace pruneserve::training {

// Mean cross-entropy of `logits` [N, K] against class indices `labels` [N]
// (int64). With smoothing e in [0, 1) the target puts 1 - e + e/K on the true
// class and e/K elsewhere, as torch.nn.CrossEntropyLoss(label_smoothing=e):
//   loss = (1 - e) * NLL + e * mean_k(-log p_k).
// Returns INVALID_ARGUMENT for bad shapes, labels out of range or e outside
// [0, 1). Does not block.
absl::StatusOr<torch::Tensor> CrossEntropyLoss(const torch::Tensor& logits,
                                               const torch::Tensor& labels,
                                               double label_smoothing = 0.0);

// Distillation term: T^2 * KL(softmax(teacher/T) || softmax(student/T)),
// summed over classes and averaged over the batch ("batchmean"). The T^2
// factor keeps gradient magnitudes comparable across temperatures. The
// teacher logits are treated as constants. Returns INVALID_ARGUMENT when the
// shapes differ or T <= 0. Does not block.
absl::StatusOr<torch::Tensor> DistillationLoss(
    const torch::Tensor& student_logits, const torch::Tensor& teacher_logits,
    double temperature);

}  // namespace pruneserve::training

#endif  // PRUNESERVE_CORE_TRAINING_LOSSES_H_
