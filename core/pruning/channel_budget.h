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

// The targets a budgeted plan must meet, as one integer cost for
// AllocateBudget: each limit's cost (MACs, weights) as a fraction of what
// it allows, scaled so that exactly the limit is kScale, and the two added,
// a met limit counting as exactly met. While both are unmet a move is worth
// what it saves of each, so a layer that saves weights and MACs competes on
// its whole saving; taking the larger of the two instead lets only the
// binding limit count, and the greedy then strips the MAC-heavy early
// layers first and leaves them thin once weights bind too. With one limit
// the cost is that limit's fraction alone. Immutable, thread-safe.
class BudgetTargets {
 public:
  // `base`: the unpruned model's costs; each fraction (in [0, 1), 0 = no
  // such limit) is the part of that cost to remove. The caller checks the
  // ranges and that one fraction is above 0 (ValidatePolicyOptions).
  BudgetTargets(ChannelCostModel::Cost base, double macs_fraction,
                double params_fraction);

  // The cost of a model costing `c`; <= target() exactly when every limit
  // holds.
  int64_t Cost(const ChannelCostModel::Cost& c) const;
  int64_t target() const;

  // The fixed point of one limit's scale.
  static constexpr double kScale = double{int64_t{1} << 40};

 private:
  double macs_allowed_;    // 0 = no MAC limit
  double params_allowed_;  // 0 = no weights limit
  int limits_;
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
