// Ratio policies: turn per-channel importance scores (and, for the refined
// method, measured input sparsity) into keep masks for every channel group.
//
//   refined          the paper: group ratio r = input sparsity s of the layer
//                    consuming the group; guards: r >= 0.5 -> 0.5*s, s < 0.1
//                    -> skip; scripts' rule for which channels go (below).
//   uniform          the same ratio for every group; the floor(C*r) lowest
//                    scores go.
//   global_threshold Network Slimming: one threshold over all eligible
//                    groups' scores, the floor(N*r)-th smallest; channels
//                    with score <= threshold go.
//   threshold        channels with score <= a given value go.
//   target_flops     refined ratios times one factor, found by bisection so
//                    the estimated MAC reduction meets the target.
//
// After selection every group keeps at least min_channels (the highest
// scores are restored first) and, when round_to > 1, the kept count is raised
// to a multiple of round_to (capped at the group size).
#ifndef PRUNESERVE_CORE_PRUNING_RATIO_POLICY_H_
#define PRUNESERVE_CORE_PRUNING_RATIO_POLICY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/pruning/channel_dependency_graph.h"
#include "core/pruning/layer_sparsity_probe.h"
#include "core/pruning/module_surgery.h"

namespace pruneserve::pruning {

enum class PolicyKind {
  kRefined,
  kUniform,
  kGlobalThreshold,
  kThreshold,
  kTargetFlops
};

// "refined", "uniform", "global_threshold", "threshold", "target_flops".
absl::StatusOr<PolicyKind> ParsePolicyKind(const std::string& name);
std::string PolicyKindName(PolicyKind kind);

struct PolicyOptions {
  PolicyKind kind = PolicyKind::kRefined;
  // uniform / global_threshold: fraction of channels to remove.
  double ratio = 0.5;
  // threshold: channels with importance <= this value are removed.
  double threshold = 0.0;
  // target_flops: fraction of the model's MACs to remove (0.3 = 30 %).
  double target_flops_reduction = 0.5;
  // target_flops: accepted distance to the target, as a fraction of MACs.
  double flops_tolerance = 0.01;
  // refined: if r >= 0.5 then r = 0.5 * s.
  bool halving_cap = true;
  // refined: groups whose sparsity is below this are left alone.
  double min_sparsity = 0.1;
  // Every group keeps at least this many channels.
  int64_t min_channels = 2;
  // Kept channel counts are rounded up to a multiple of this (1 = off).
  int64_t round_to = 1;
  // Groups whose name or any producer fully matches one of these (exact
  // name or ECMAScript regex) are left alone.
  std::vector<std::string> exclude;
  // In networks with residual adds, also prune groups on the residual
  // stream and the stem (off: only channels inside blocks are pruned).
  bool prune_residual_stream = false;
};

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
};

struct PruningPlan {
  std::vector<GroupDecision> groups;  // indexed like analysis.groups()
  // target_flops: the factor applied to the refined ratios.
  double ratio_scale = 1.0;
  std::vector<std::string> warnings;

  KeepMasks masks() const;
};

// The refined rule on one score vector, exactly as the authors' scripts:
// sort ascending, k = floor(C * ratio), threshold = k-th smallest (0-based),
// keep scores > threshold (k+1 channels go when scores are distinct). Then
// the min_channels and round_to guards. ratio <= 0 keeps everything.
GroupDecision SelectByRefinedRule(const std::vector<double>& scores,
                                  double ratio, const PolicyOptions& options);

// The refined ratio for sparsity s after the guards; 0 when skipped.
double RefinedRatio(double sparsity, const PolicyOptions& options);

// Estimated MACs of the analysed model under `keep`, from the layer
// geometries (conv and linear layers only).
int64_t EstimateMacs(const ChannelDependencyGraph& analysis,
                     const KeepMasks& keep);

// Builds the plan. `scores[g]` holds the criterion's scores of group g, or is
// empty when the criterion could not score it (`score_errors[g]` says why;
// such groups are left alone). `sparsity` is required by refined and
// target_flops. Returns InvalidArgument for bad options, FailedPrecondition
// when required sparsity is missing, OutOfRange when target_flops cannot
// reach its target.
absl::StatusOr<PruningPlan> PlanPruning(
    const ChannelDependencyGraph& analysis,
    const std::vector<std::vector<double>>& scores,
    const std::vector<std::string>& score_errors,
    const SparsityProfile* sparsity, const PolicyOptions& options);

}  // namespace pruneserve::pruning

#endif  // PRUNESERVE_CORE_PRUNING_RATIO_POLICY_H_
