// Cost model and greedy allocation of the budgeted policy.
#include "core/pruning/channel_budget.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "absl/strings/str_format.h"

namespace pruneserve::pruning {

std::vector<int64_t> RemovalOrder(const std::vector<double>& scores) {
  std::vector<int64_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return scores[a] < scores[b]; });
  return order;
}

std::vector<int64_t> RemovalLadder(int64_t channels, int steps,
                                   const PolicyOptions& o) {
  std::vector<int64_t> ladder = {0};
  const int64_t round_to = std::max<int64_t>(1, o.round_to);
  // Written so that a NaN cap allows nothing (PlanPruning rejects it).
  const double cap =
      o.max_group_ratio >= 0.0 ? std::min(o.max_group_ratio, 1.0) : 0.0;
  const int64_t most = static_cast<int64_t>(
      std::floor(static_cast<double>(channels) * cap + 1e-9));
  for (int i = 1; i < steps; ++i) {
    const int64_t k =
        std::min(most, static_cast<int64_t>(std::floor(
                           static_cast<double>(channels) * i / steps + 1e-9)));
    int64_t kept = std::max(channels - k, o.min_channels);
    kept = std::min(channels, (kept + round_to - 1) / round_to * round_to);
    const int64_t removed = channels - kept;
    if (removed > ladder.back()) ladder.push_back(removed);
  }
  return ladder;
}

int64_t ChannelCostModel::Side::Kept(
    const std::vector<int64_t>& removed) const {
  int64_t kept = fixed;
  for (const auto& [group, pos] : positions) {
    // Channels whose position is at or past the removed prefix survive.
    kept +=
        pos.end() - std::lower_bound(pos.begin(), pos.end(), removed[group]);
  }
  return kept;
}

ChannelCostModel::ChannelCostModel(
    const ChannelDependencyGraph& analysis,
    const std::vector<std::vector<int64_t>>& order) {
  // position[g][c]: where channel c of group g comes in its removal order.
  std::vector<std::vector<int64_t>> position(order.size());
  for (size_t g = 0; g < order.size(); ++g) {
    if (order[g].empty()) continue;
    position[g].assign(analysis.groups()[g].channels.size(),
                       std::numeric_limits<int64_t>::max());
    for (size_t i = 0; i < order[g].size(); ++i) {
      position[g][order[g][i]] = static_cast<int64_t>(i);
    }
  }
  auto side = [&](const std::vector<ChannelRef>& refs) {
    Side s;
    std::map<int, std::vector<int64_t>> by_group;
    for (const ChannelRef& r : refs) {
      if (r.group < 0 || position[r.group].empty()) {
        ++s.fixed;
      } else {
        by_group[r.group].push_back(position[r.group][r.channel]);
      }
    }
    for (auto& [g, pos] : by_group) {
      std::sort(pos.begin(), pos.end());
      s.positions.emplace_back(g, std::move(pos));
    }
    return s;
  };
  for (const LayerGeometry& l : analysis.layers()) {
    layers_.push_back(Layer{&l, side(l.outputs), side(l.inputs)});
  }
}

ChannelCostModel::Cost ChannelCostModel::Evaluate(
    const std::vector<int64_t>& removed) const {
  Cost cost;
  for (const Layer& layer : layers_) {
    const LayerGeometry& l = *layer.geometry;
    const int64_t pairs =
        l.WeightPairs(layer.out.Kept(removed), layer.in.Kept(removed));
    cost.macs += pairs * l.macs_per_pair;
    cost.params += pairs * l.params_per_pair;
  }
  return cost;
}

namespace {

// What a limit of removing `fraction` of `base` allows (at least 1, so a
// fraction just under 1 stays a finite ratio); 0 for no limit.
double Allowed(int64_t base, double fraction) {
  return fraction > 0 ? std::max(1.0, std::floor(static_cast<double>(base) *
                                                 (1.0 - fraction)))
                      : 0.0;
}

}  // namespace

BudgetTargets::BudgetTargets(ChannelCostModel::Cost base, double macs_fraction,
                             double params_fraction)
    : macs_allowed_(Allowed(base.macs, macs_fraction)),
      params_allowed_(Allowed(base.params, params_fraction)),
      limits_((macs_allowed_ > 0) + (params_allowed_ > 0)) {}

int64_t BudgetTargets::Cost(const ChannelCostModel::Cost& c) const {
  int64_t total = 0;
  auto add = [&](int64_t now, double allowed) {
    if (allowed <= 0) return;
    double ratio = static_cast<double>(now) / allowed;
    if (limits_ > 1) ratio = std::max(ratio, 1.0);
    total += static_cast<int64_t>(std::ceil(ratio * kScale));
  };
  add(c.macs, macs_allowed_);
  add(c.params, params_allowed_);
  return total;
}

int64_t BudgetTargets::target() const {
  return static_cast<int64_t>(limits_ * kScale);
}

absl::StatusOr<std::vector<int64_t>> AllocateBudget(
    const std::vector<DamageCurve>& curves,
    const std::function<int64_t(const std::vector<int64_t>&)>& cost,
    int64_t target) {
  const size_t n = curves.size();
  // Non-decreasing damage: a measured gain from removing channels is noise,
  // not a reason to remove more.
  std::vector<std::vector<double>> damage(n);
  for (size_t g = 0; g < n; ++g) {
    double running = 0.0;
    for (double d : curves[g].damage) {
      running = std::max(running, d);
      damage[g].push_back(running);
    }
  }
  std::vector<size_t> level(n, 0);
  std::vector<int64_t> removed(n, 0);
  for (size_t g = 0; g < n; ++g) {
    if (!curves[g].removed.empty()) removed[g] = curves[g].removed[0];
  }
  int64_t current = cost(removed);
  while (current > target) {
    double best_rate = std::numeric_limits<double>::infinity();
    int64_t best_saved = 0;
    size_t best_group = n, best_level = 0;
    for (size_t g = 0; g < n; ++g) {
      for (size_t j = level[g] + 1; j < curves[g].removed.size(); ++j) {
        std::vector<int64_t> trial = removed;
        trial[g] = curves[g].removed[j];
        const int64_t saved = current - cost(trial);
        if (saved <= 0) continue;
        const double rate =
            (damage[g][j] - damage[g][level[g]]) / static_cast<double>(saved);
        if (rate < best_rate || (rate == best_rate && saved > best_saved)) {
          best_rate = rate;
          best_saved = saved;
          best_group = g;
          best_level = j;
        }
      }
    }
    if (best_group == n) {
      return absl::OutOfRangeError(absl::StrFormat(
          "budgeted: the ladders reach %d at the lowest, the target is %d",
          current, target));
    }
    level[best_group] = best_level;
    removed[best_group] = curves[best_group].removed[best_level];
    current -= best_saved;
  }
  // The last move may overshoot: give channels back where the target
  // still holds, the most damaging removals first.
  while (true) {
    double best_gain = 0.0;
    size_t best_group = n;
    int64_t best_cost = 0;
    for (size_t g = 0; g < n; ++g) {
      if (level[g] == 0) continue;
      std::vector<int64_t> trial = removed;
      trial[g] = curves[g].removed[level[g] - 1];
      const int64_t c = cost(trial);
      const double gain = damage[g][level[g]] - damage[g][level[g] - 1];
      if (c <= target && (best_group == n || gain > best_gain)) {
        best_gain = gain;
        best_group = g;
        best_cost = c;
      }
    }
    if (best_group == n) break;
    --level[best_group];
    removed[best_group] = curves[best_group].removed[level[best_group]];
    current = best_cost;
  }
  return removed;
}

}  // namespace pruneserve::pruning
