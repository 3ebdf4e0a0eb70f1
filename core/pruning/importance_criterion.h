// Channel importance criteria behind one interface. A criterion scores every
// channel of a ChannelGroup (higher = more important). Scores come from the
// group's members: each BatchNorm (bn_gamma), each producing layer's filters
// (l1, l2) or each consuming layer's input activations (apoz).
//
// Aggregation over members: a group with one member uses that member's raw
// scores (so bn_gamma thresholds are plain |gamma| values). With several
// members (e.g. the BNs of a depthwise block, or branches joined by a
// residual add) each member's scores are divided by that member's maximum
// and the normalised scores are summed, so every member weighs the same
// regardless of its scale.
#ifndef PRUNESERVE_CORE_PRUNING_IMPORTANCE_CRITERION_H_
#define PRUNESERVE_CORE_PRUNING_IMPORTANCE_CRITERION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/pruning/channel_dependency_graph.h"
#include "core/pruning/layer_sparsity_probe.h"
#include "core/pruning/pruning_options.h"

namespace pruneserve::pruning {

// What a criterion may read besides the group.
struct CriterionContext {
  // The analysis (and through it the module's current tensors). Required.
  const ChannelDependencyGraph* analysis = nullptr;
  // Activation statistics; required by apoz only.
  const SparsityProfile* sparsity = nullptr;
  // Seed of the random criterion.
  uint64_t seed = 0;
};

// Stateless and thread-compatible; Score() reads module tensors.
class ImportanceCriterion {
 public:
  virtual ~ImportanceCriterion() = default;

  // "bn_gamma", "l1", "l2", "apoz" or "random".
  virtual std::string name() const = 0;

  // One score per channel of `group`. Returns FailedPrecondition when the
  // group lacks what the criterion needs (no BatchNorm for bn_gamma, no
  // activation statistics for apoz). Does not block on I/O.
  virtual absl::StatusOr<std::vector<double>> Score(
      const ChannelGroup& group, const CriterionContext& context) const = 0;
};

// Returns the criterion of `kind`. Never fails for a valid enum value;
// InvalidArgument otherwise.
absl::StatusOr<std::unique_ptr<ImportanceCriterion>> MakeCriterion(
    CriterionKind kind);

// Returns the criterion called `name` (see ParseCriterionKind), or
// InvalidArgument listing the names.
absl::StatusOr<std::unique_ptr<ImportanceCriterion>> MakeCriterion(
    const std::string& name);

// The aggregation described at the top of this file; `members` holds one
// score vector (one entry per channel) per member. Empty input: empty result.
std::vector<double> AggregateMemberScores(
    const std::vector<std::vector<double>>& members);

}  // namespace pruneserve::pruning

#endif  // PRUNESERVE_CORE_PRUNING_IMPORTANCE_CRITERION_H_
