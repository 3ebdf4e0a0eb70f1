// How much each channel group's channels matter to the model's loss: for
// every group, the calibration loss increase when its k lowest-ranked
// channels are taken out, for each k on the group's removal ladder
// (channel_budget.h). The budgeted policy allocates its budget from these
// curves; the pruning report shows them per layer.
//
// A channel is taken out by zeroing the weights that read it (every
// consumer conv or linear column of the coupled channel), which is exactly
// what removing it does to those layers; the producer, its BatchNorm and
// the running statistics stay as they are. Groups whose channels no layer
// reads are masked at the producer instead (weights, bias and BatchNorm
// affine zeroed). The masked tensors are copies swapped into the module for
// the measurement; the module's own tensors are never written. With
// policy.sensitivity_batch_statistics every BatchNorm normalises by the
// calibration batch's statistics instead (its running statistics swapped
// for copies, which the training-mode pass updates), so a shift that the
// next BatchNorm would absorb is not counted as damage.
#ifndef PRUNESERVE_CORE_PRUNING_GROUP_SENSITIVITY_H_
#define PRUNESERVE_CORE_PRUNING_GROUP_SENSITIVITY_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "core/pruning/channel_budget.h"
#include "core/pruning/channel_dependency_graph.h"
#include "core/pruning/pruning_options.h"

namespace pruneserve::data {
class BatchSource;
}  // namespace pruneserve::data

namespace pruneserve::pruning {

struct SensitivityProfile {
  // One curve per analysis group; empty for groups that were not measured.
  std::vector<DamageCurve> groups;
  // Mean cross-entropy of the unpruned model on the calibration examples.
  double base_loss = 0.0;
  int64_t examples = 0;
  // Model evaluations run and their wall time.
  int64_t evaluations = 0;
  double elapsed_ms = 0.0;
};

// Measures the curve of every group with eligible[g] set, ranking its
// channels by scores[g] (RemovalOrder), on the ladder of
// policy.sensitivity_steps and the calibration examples `probe` selects
// (read once, kept in memory). When `already_removed` is given (one count
// per group), those lowest-ranked channels stay masked throughout: the base
// loss is the masked model's and each curve starts at that count. `module` is
// the analysed module; it is run in eval mode without grad, its tensors are
// modified while measuring and restored. Returns FailedPrecondition when the
// source yields no data, the source's error, InvalidArgument when the model's
// output is not [N, classes] logits for the labels, Internal when a tensor
// cannot be found. Blocks: one forward pass over the examples per ladder step.
absl::StatusOr<SensitivityProfile> MeasureGroupSensitivity(
    torch::jit::Module& module, const ChannelDependencyGraph& analysis,
    const std::vector<std::vector<double>>& scores,
    const std::vector<bool>& eligible, const PolicyOptions& policy,
    data::BatchSource& calibration, const SparsityProbeOptions& probe,
    const std::vector<int64_t>& already_removed = {});

}  // namespace pruneserve::pruning

#endif  // PRUNESERVE_CORE_PRUNING_GROUP_SENSITIVITY_H_
