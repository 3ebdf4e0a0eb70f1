// Spending a pruning budget: the cost (MACs or weights) of a model when each
// channel group loses a prefix of its channels in a fixed order, the ladder
// of removal counts the budgeted policy measures, and the allocation that
// reaches a cost target with the least total measured damage.
//
// The budgeted policy (ratio_policy.h) ranks each group's channels by the
// criterion, measures the loss increase of removing the k lowest for every k
// on the ladder (group_sensitivity.h), and hands the curves to
// AllocateBudget. Everything here is plain arithmetic on the analysis'
// layer geometry: no LibTorch, cheap enough to evaluate thousands of times.
#ifndef PRUNESERVE_CORE_PRUNING_CHANNEL_BUDGET_H_
#define PRUNESERVE_CORE_PRUNING_CHANNEL_BUDGET_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "core/pruning/channel_dependency_graph.h"
#include "core/pruning/pruning_options.h"

namespace pruneserve::pruning {

// Channel indices of `scores` in the order a "lowest first" policy removes
// them: ascending score, ties by index (the same order as the uniform
// policy's selection).
std::vector<int64_t> RemovalOrder(const std::vector<double>& scores);

// The removal counts the budgeted policy considers for a group of
// `channels`: 0, then floor(channels * i / steps) for i = 1 .. steps - 1
// with min_channels kept and the kept count rounded up to round_to (as
// every policy's guards do), and never more than channels *
// max_group_ratio removed; ascending, without repeats. {0} when the guards
// allow no removal.
std::vector<int64_t> RemovalLadder(int64_t channels, int steps,
                                   const PolicyOptions& options);

// MACs and weights of the analysed model's conv and linear layers when
// group g loses the first removed[g] channels of order[g]. Built once per
// plan; Evaluate is O(layers * groups per layer * log channels). Immutable,
// thread-safe.
class ChannelCostModel {
 public:
  struct Cost {
    int64_t macs = 0;
    int64_t params = 0;
  };

  // order[g]: group g's channels, first removed first; an empty order keeps
  // the group whole. One entry per analysis group.
  ChannelCostModel(const ChannelDependencyGraph& analysis,
                   const std::vector<std::vector<int64_t>>& order);

  // `removed` has one count per group (<= order[g].size()).
  Cost Evaluate(const std::vector<int64_t>& removed) const;

 private:
  // One side (inputs or outputs) of a layer: channels that never go, and
  // for each group in play the removal positions of its channels here.
  struct Side {
    int64_t fixed = 0;
    std::vector<std::pair<int, std::vector<int64_t>>> positions;
    int64_t Kept(const std::vector<int64_t>& removed) const;
  };
  struct Layer {
    const LayerGeometry* geometry = nullptr;
    Side out;
    Side in;
  };
  std::vector<Layer> layers_;
};

// A group's measured damage: removing removed[i] channels (ascending) raised
// the calibration loss by damage[i] over removing removed[0] (0, or what an
// earlier stage took; damage[0] == 0).
struct DamageCurve {
  std::vector<int64_t> removed;
  std::vector<double> damage;
};

// Chooses a removal count from each group's curve (an empty curve keeps the
// group whole; every curve starts at its removed[0]) so that `cost(counts) <=
// target`, greedily: each step takes the move, on any group, with the least
// added damage per unit of cost saved (damage curves made non-decreasing first,
// so noise below zero is free but never a gain), then a last pass steps groups
// back down while the target still holds, largest damage saved first. Returns
// one count per curve, or OUT_OF_RANGE with the lowest reachable cost when the
// ladders cannot reach the target.
absl::StatusOr<std::vector<int64_t>> AllocateBudget(
    const std::vector<DamageCurve>& curves,
    const std::function<int64_t(const std::vector<int64_t>&)>& cost,
    int64_t target);

}  // namespace pruneserve::pruning

#endif  // PRUNESERVE_CORE_PRUNING_CHANNEL_BUDGET_H_
