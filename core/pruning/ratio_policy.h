// Ratio policies: turn per-channel importance scores (and, for the refined
// method, measured input sparsity) into keep masks for every channel group.
//
//   refined          the paper: group ratio r = input sparsity s of the layer
//                    consuming the group, under one of the authors' two
//                    rules (RefinedRule): the VGG script's (r >= 0.5 ->
//                    0.5*s; s < 0.1 -> only zero scores go) for plain
//                    chains, the ResNet-50 script's (k = int(C*s), no
//                    guard) for residual networks.
//   uniform          the same ratio for every group; the floor(C*r) lowest
//                    scores go.
//   global_threshold Network Slimming: one threshold over all eligible
//                    groups' scores, the floor(N*r)-th smallest; channels
//                    with score <= threshold go.
//   threshold        channels with score <= a given value go.
//   target_flops     refined ratios times one factor, found by bisection so
//                    the estimated MAC reduction meets the target.
//   budgeted         per-group ratios that reach a MAC (or weight) target
//                    with the least total damage measured on calibration
//                    data (group_sensitivity.h, AllocateBudget in
//                    channel_budget.h); channels ranked by the criterion.
//   global_normalized  Torch-Pruning's group-normalised global ranking:
//                    each group's scores divided by their mean, then one
//                    global threshold, bisected to the MAC target.
//   lamp             LAMP (Lee et al. 2021) on channel scores: in each
//                    group, score^2 / sum of the scores^2 not below it; one
//                    global threshold, bisected to the MAC target.
//
// After selection every group keeps at least min_channels (the highest
// scores are restored first) and, when round_to > 1, the kept count is raised
// to a multiple of round_to (capped at the group size).
#ifndef PRUNESERVE_CORE_PRUNING_RATIO_POLICY_H_
#define PRUNESERVE_CORE_PRUNING_RATIO_POLICY_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/pruning/channel_dependency_graph.h"
#include "core/pruning/group_sensitivity.h"
#include "core/pruning/layer_sparsity_probe.h"
#include "core/pruning/module_surgery.h"
#include "core/pruning/pruning_options.h"

namespace pruneserve::pruning {

// The decision for one group.
struct GroupDecision {
  std::vector<bool> keep;
  // Ratio the policy asked for (0 when skipped).
  double ratio = 0.0;
  // Importance threshold: channels with score <= it were removed.
  double threshold = 0.0;
  // Input sparsity of the consuming layer, -1 when unknown.
  double sparsity = -1.0;
  // Non-empty when the group was left alone, saying why.
  std::string skip_reason;
  // budgeted: the measured damage curve (channels removed -> loss increase).
  DamageCurve damage;
};

struct PruningPlan {
  std::vector<GroupDecision> groups;  // indexed like analysis.groups()
  // target_flops: the factor applied to the refined ratios.
  double ratio_scale = 1.0;
  // refined / target_flops: the rule and guards that applied, for reports.
  std::string refined_rule;
  std::vector<std::string> warnings;

  KeepMasks masks() const;
};

// The guards in force: the options' explicit values, else the rule's.
struct RefinedGuards {
  bool halving_cap = true;
  double min_sparsity = 0.1;
  // The residual rule applies its threshold even at ratio 0 (k = 0 removes
  // the lowest score), as the ResNet-50 script does.
  bool threshold_at_zero = false;
  // The rule and its guards, for reports.
  std::string Describe() const;
};
RefinedGuards GuardsFor(const PolicyOptions& options, bool residual_model);

// The refined rule on one score vector, exactly as the authors' scripts:
// sort ascending, k = floor(C * ratio), threshold = k-th smallest (0-based),
// keep scores > threshold (k+1 channels go when scores are distinct). A
// skipped layer (ratio <= 0) keeps scores > 0 under the plain rule (the VGG
// script's threshold 0) and applies k = 0 under the residual rule. When
// fewer than min_channels survive, every channel with a score > 0 is kept,
// as the scripts do; only when that still leaves fewer than min_channels
// are the best ones restored. Then round_to.
GroupDecision SelectByRefinedRule(const std::vector<double>& scores,
                                  double ratio, const PolicyOptions& options,
                                  const RefinedGuards& guards);

// The refined ratio for sparsity s after the guards; 0 when skipped.
double RefinedRatio(double sparsity, const RefinedGuards& guards);

// The cumulative variant of the halving cap for a group that has `channels`
// now and had `original` before the first round: taking s this round would
// leave it with R = 1 - channels * (1 - s) / original of its channels
// removed in all; when R >= 0.5 the total is halved instead (R / 2), and
// the returned ratio of this round's channels removes exactly what that
// total still allows (0 when earlier rounds already took more). The skip
// below min_sparsity is as in RefinedRatio. In the first round (channels ==
// original) it equals RefinedRatio; later rounds no longer take about half
// of a layer each time.
double CumulativeRefinedRatio(double sparsity, int64_t channels,
                              int64_t original, const RefinedGuards& guards);

// Estimated MACs of the analysed model under `keep`, from the layer
// geometries (conv and linear layers only).
int64_t EstimateMacs(const ChannelDependencyGraph& analysis,
                     const KeepMasks& keep);

// The knob in [lo, hi] whose reduction (non-decreasing in the knob) lands
// closest to `target`, by bisection (50 halvings), with the reduction it
// gives: how the target policies and the bench's FLOPs matching turn a
// ratio or threshold into a MAC reduction.
std::pair<double, double> BisectToTarget(
    const std::function<double(double)>& reduction, double lo, double hi,
    double target);

// Which groups a policy may prune: prunable, scored, not excluded, and off
// the residual stream and stem unless options.prune_residual_stream.
std::vector<bool> EligibleGroups(const ChannelDependencyGraph& analysis,
                                 const std::vector<std::vector<double>>& scores,
                                 const PolicyOptions& options);

// Builds the plan. `scores[g]` holds the criterion's scores of group g, or is
// empty when the criterion could not score it (`score_errors[g]` says why;
// such groups are left alone). `sparsity` is required by refined and
// target_flops, `sensitivity` by budgeted. Returns InvalidArgument for bad
// options, FailedPrecondition when required measurements are missing,
// OutOfRange when a policy with a target cannot reach it.
absl::StatusOr<PruningPlan> PlanPruning(
    const ChannelDependencyGraph& analysis,
    const std::vector<std::vector<double>>& scores,
    const std::vector<std::string>& score_errors,
    const SparsityProfile* sparsity, const PolicyOptions& options,
    const SensitivityProfile* sensitivity = nullptr);

}  // namespace pruneserve::pruning

#endif  // PRUNESERVE_CORE_PRUNING_RATIO_POLICY_H_
