#include "core/pruning/channel_budget.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/script.h>

#include <random>

#include "core/pruning/module_surgery.h"
#include "core/pruning/ratio_policy.h"
#include "tests/core/pruning/test_models.h"

namespace pruneserve::pruning {
namespace {

using ::testing::ElementsAre;

TEST(RemovalOrderTest, AscendingScoresTiesByIndex) {
  EXPECT_THAT(RemovalOrder({0.5, 0.1, 0.5, 0.0, 0.1}),
              ElementsAre(3, 1, 4, 0, 2));
}

TEST(RemovalLadderTest, StepsUnderTheGuards) {
  PolicyOptions o;  // min_channels 2
  EXPECT_THAT(RemovalLadder(10, 10, o), ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8));
  EXPECT_THAT(RemovalLadder(16, 4, o), ElementsAre(0, 4, 8, 12));
  // Kept counts rounded up to a multiple of 8: 16 - k in {8, 16}.
  o.round_to = 8;
  EXPECT_THAT(RemovalLadder(16, 10, o), ElementsAre(0, 8));
  o.round_to = 1;
  // Three channels, two kept: only one can go, whatever the steps.
  EXPECT_THAT(RemovalLadder(3, 10, o), ElementsAre(0, 1));
  EXPECT_THAT(RemovalLadder(2, 10, o), ElementsAre(0));
  // At most 75 % of a group: 16 * 0.75 = 12 is the ladder's top.
  o.max_group_ratio = 0.75;
  EXPECT_THAT(RemovalLadder(16, 10, o),
              ElementsAre(0, 1, 3, 4, 6, 8, 9, 11, 12));
  // The cap and min_channels: whichever keeps more.
  EXPECT_THAT(RemovalLadder(4, 10, o), ElementsAre(0, 1, 2));
  o.max_group_ratio = 0.0;
  EXPECT_THAT(RemovalLadder(16, 10, o), ElementsAre(0));
}

// The cost model's MACs equal EstimateMacs on the masks of the same
// prefixes, on every test model (concat, residual adds, depthwise, flatten).
TEST(ChannelCostModelTest, AgreesWithEstimateMacsOnRandomPrefixes) {
  std::mt19937 rng(5);
  for (testing::TestModel& m : testing::AllTestModels(3)) {
    SCOPED_TRACE(m.name);
    auto graph = ChannelDependencyGraph::Build(m.module, m.input_shape);
    ASSERT_TRUE(graph.ok()) << graph.status();
    const auto& groups = (*graph)->groups();
    std::vector<std::vector<int64_t>> order(groups.size());
    for (const ChannelGroup& g : groups) {
      if (!g.prunable) continue;
      std::vector<double> scores(g.channels.size());
      for (double& s : scores) s = std::uniform_real_distribution<>(0, 1)(rng);
      order[g.id] = RemovalOrder(scores);
    }
    const ChannelCostModel model(**graph, order);
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<int64_t> removed(groups.size(), 0);
      KeepMasks keep = KeepAll(**graph);
      for (const ChannelGroup& g : groups) {
        if (order[g.id].empty()) continue;
        removed[g.id] = std::uniform_int_distribution<int64_t>(
            0, static_cast<int64_t>(g.channels.size()) - 1)(rng);
        for (int64_t i = 0; i < removed[g.id]; ++i) {
          keep[g.id][order[g.id][i]] = false;
        }
      }
      EXPECT_EQ(model.Evaluate(removed).macs, EstimateMacs(**graph, keep));
    }
    // Unpruned, the weights are every conv and linear weight element.
    int64_t weights = 0;
    for (const auto& p : m.module.named_parameters(/*recurse=*/true)) {
      if (p.value.dim() >= 2) weights += p.value.numel();
    }
    EXPECT_EQ(model.Evaluate(std::vector<int64_t>(groups.size(), 0)).params,
              weights);
  }
}

// Three groups whose cost is 10 per removed channel of group 0, 20 of
// group 1 and 5 of group 2, from a base of 1000.
int64_t LinearCost(const std::vector<int64_t>& removed) {
  return 1000 - 10 * removed[0] - 20 * removed[1] - 5 * removed[2];
}

TEST(AllocateBudgetTest, TakesTheLeastDamagePerCostSaved) {
  std::vector<DamageCurve> curves = {
      {{0, 2, 4}, {0.0, 0.2, 0.4}},  // 0.01 per unit of cost saved
      {{0, 2, 4}, {0.0, 0.1, 0.9}},  // 0.0025, then 0.02
      {{0, 2, 4}, {0.0, 0.0, 0.0}},  // free
  };
  auto removed = AllocateBudget(curves, LinearCost, 1000 - 70);
  ASSERT_TRUE(removed.ok()) << removed.status();
  // Free group 2 first (its larger step, -20), group 1's cheap first step
  // (-40), then group 0 at 0.01 per unit (its larger step, to 900) rather
  // than group 1's dear second. The give-back pass returns group 0's
  // second step (920) and group 2's free one (930): the least pruning that
  // meets the target at the same damage.
  EXPECT_THAT(*removed, ElementsAre(2, 2, 2));
  EXPECT_EQ(LinearCost(*removed), 930);
}

TEST(AllocateBudgetTest, GivesBackWhatTheLastStepOvershot) {
  // Group 1's step is the cheaper per unit and enough for 990. For 950 it
  // is taken first, then group 0's jump of 8 (-80) overshoots, and group
  // 1's step is given back.
  std::vector<DamageCurve> curves = {
      {{0, 8}, {0.0, 0.5}},
      {{0, 1}, {0.0, 0.05}},
      {},
  };
  auto removed = AllocateBudget(curves, LinearCost, 990);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_THAT(*removed, ElementsAre(0, 1, 0));
  removed = AllocateBudget(curves, LinearCost, 950);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_THAT(*removed, ElementsAre(8, 0, 0));
}

TEST(BudgetTargetsTest, OneLimitIsItsFractionOfWhatItAllows) {
  constexpr double kScale = BudgetTargets::kScale;
  const BudgetTargets macs({1000, 200}, 0.5, 0.0);  // 500 MACs allowed
  EXPECT_EQ(macs.target(), static_cast<int64_t>(kScale));
  EXPECT_EQ(macs.Cost({625, 200}), static_cast<int64_t>(1.25 * kScale));
  EXPECT_EQ(macs.Cost({500, 999}), macs.target());
  // Below the limit it keeps falling: one limit is that cost alone.
  EXPECT_EQ(macs.Cost({250, 0}), static_cast<int64_t>(0.5 * kScale));
  const BudgetTargets weights({1000, 200}, 0.0, 0.75);  // 50 weights
  EXPECT_EQ(weights.Cost({1000, 100}), static_cast<int64_t>(2 * kScale));
}

TEST(BudgetTargetsTest, TwoLimitsAddAndAMetLimitCountsAsExactlyMet) {
  constexpr double kScale = BudgetTargets::kScale;
  const BudgetTargets both({128, 128}, 0.5, 0.5);  // 64 of each allowed
  EXPECT_EQ(both.target(), static_cast<int64_t>(2 * kScale));
  EXPECT_EQ(both.Cost({96, 80}), static_cast<int64_t>(2.75 * kScale));
  // Weights met: only the MACs' excess is left, and going further below
  // the weights limit earns nothing.
  EXPECT_EQ(both.Cost({96, 32}), static_cast<int64_t>(2.5 * kScale));
  EXPECT_EQ(both.Cost({96, 8}), both.Cost({96, 32}));
  EXPECT_GT(both.Cost({65, 0}), both.target());
  EXPECT_EQ(both.Cost({64, 64}), both.target());
}

// Group 0 saves only MACs, group 1 only weights, group 2 half of each at
// more damage than the other two together. Both limits at 50 %.
ChannelCostModel::Cost SplitCost(const std::vector<int64_t>& removed) {
  return {100 - 50 * removed[0] - 50 * removed[2],
          100 - 50 * removed[1] - 50 * removed[2]};
}

TEST(AllocateBudgetTest, WithTwoLimitsEverySavingCounts) {
  const std::vector<DamageCurve> curves = {
      {{0, 1}, {0.0, 1.0}},
      {{0, 1}, {0.0, 1.0}},
      {{0, 1}, {0.0, 2.5}},
  };
  const BudgetTargets targets({100, 100}, 0.5, 0.5);
  auto removed = AllocateBudget(
      curves, [&](const auto& r) { return targets.Cost(SplitCost(r)); },
      targets.target());
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_THAT(*removed, ElementsAre(1, 1, 0));  // damage 2.0
  // Costed by the binding limit alone, neither single-limit group saves
  // anything while the other limit binds, and the dearer group 2 is taken.
  auto binding = [](const std::vector<int64_t>& r) {
    const ChannelCostModel::Cost c = SplitCost(r);
    return std::max(c.macs, c.params);
  };
  removed = AllocateBudget(curves, binding, 50);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_THAT(*removed, ElementsAre(0, 0, 1));  // damage 2.5
}

TEST(AllocateBudgetTest, NoisyGainsAreNotRewardedAndStartsAreKept) {
  // Group 0 measured a gain at its first step: treated as free, not as a
  // reason to prefer it over group 2's real zero.
  std::vector<DamageCurve> curves = {
      {{3, 5}, {0.0, -0.2}},  // starts at 3 (an earlier stage's removal)
      {{0, 1}, {0.0, 0.5}},
      {},
  };
  auto removed = AllocateBudget(curves, LinearCost, 1000);
  ASSERT_TRUE(removed.ok());
  EXPECT_THAT(*removed, ElementsAre(3, 0, 0));
  removed = AllocateBudget(curves, LinearCost, 1000 - 50);
  ASSERT_TRUE(removed.ok());
  EXPECT_THAT(*removed, ElementsAre(5, 0, 0));
}

TEST(AllocateBudgetTest, OutOfRangeWhenTheLaddersEndFirst) {
  std::vector<DamageCurve> curves = {{{0, 2}, {0.0, 0.1}}, {}, {}};
  auto removed = AllocateBudget(curves, LinearCost, 900);
  EXPECT_EQ(removed.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(removed.status().message()),
              ::testing::HasSubstr("980"));
}

}  // namespace
}  // namespace pruneserve::pruning
