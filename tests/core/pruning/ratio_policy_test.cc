#include "core/pruning/ratio_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pruneserve::pruning {
namespace {

std::vector<int> Removed(const GroupDecision& d) {
  std::vector<int> out;
  for (size_t i = 0; i < d.keep.size(); ++i) {
    if (!d.keep[i]) out.push_back(static_cast<int>(i));
  }
  return out;
}

// |gamma| of a 10-channel BN, all distinct.
const std::vector<double> kGamma = {0.9, 0.1, 0.5, 0.3, 0.7,
                                    0.2, 0.8, 0.4, 0.6, 1.0};

TEST(RefinedRuleTest, RemovesKPlusOneChannelsAtOrBelowThreshold) {
  PolicyOptions o;
  // s = 0.35 < 0.5: r = 0.35, k = floor(3.5) = 3, threshold = sorted[3] = 0.4.
  double r = RefinedRatio(0.35, o);
  EXPECT_DOUBLE_EQ(r, 0.35);
  GroupDecision d = SelectByRefinedRule(kGamma, r, o);
  EXPECT_THAT(Removed(d), ::testing::ElementsAre(1, 3, 5, 7));
  EXPECT_DOUBLE_EQ(d.threshold, 0.4);
}

TEST(RefinedRuleTest, HalvingCapAppliesFromHalf) {
  PolicyOptions o;
  // s = 0.6 >= 0.5 -> r = 0.3 -> k = 3 -> four channels go.
  EXPECT_DOUBLE_EQ(RefinedRatio(0.6, o), 0.3);
  EXPECT_THAT(Removed(SelectByRefinedRule(kGamma, RefinedRatio(0.6, o), o)),
              ::testing::ElementsAre(1, 3, 5, 7));
  // s = 0.5 is capped too: r = 0.25 -> k = 2 -> threshold 0.3, three go.
  EXPECT_DOUBLE_EQ(RefinedRatio(0.5, o), 0.25);
  GroupDecision d = SelectByRefinedRule(kGamma, 0.25, o);
  EXPECT_THAT(Removed(d), ::testing::ElementsAre(1, 3, 5));
  EXPECT_DOUBLE_EQ(d.threshold, 0.3);
  // Without the cap s = 0.6 removes floor(6)+1 = 7.
  o.halving_cap = false;
  EXPECT_EQ(
      Removed(SelectByRefinedRule(kGamma, RefinedRatio(0.6, o), o)).size(), 7u);
}

TEST(RefinedRuleTest, LowSparsityLeavesLayerAlone) {
  PolicyOptions o;
  EXPECT_EQ(RefinedRatio(0.09, o), 0.0);
  EXPECT_GT(RefinedRatio(0.1, o), 0.0);
  GroupDecision d = SelectByRefinedRule(kGamma, RefinedRatio(0.09, o), o);
  EXPECT_TRUE(Removed(d).empty());
  o.min_sparsity = 0.05;
  EXPECT_DOUBLE_EQ(RefinedRatio(0.09, o), 0.09);
}

TEST(RefinedRuleTest, MinChannelsRestoresBestScores) {
  PolicyOptions o;
  o.halving_cap = false;
  const std::vector<double> g = {0.4, 0.1, 0.3, 0.2};
  // r = 0.99 -> k = 3 -> threshold = 0.4 removes all; keep the best two.
  GroupDecision d = SelectByRefinedRule(g, 0.99, o);
  EXPECT_THAT(Removed(d), ::testing::ElementsAre(1, 3));
  EXPECT_DOUBLE_EQ(d.threshold, 0.2);
  o.min_channels = 3;
  EXPECT_THAT(Removed(SelectByRefinedRule(g, 0.99, o)),
              ::testing::ElementsAre(1));
}

TEST(RefinedRuleTest, RoundToRaisesKeptCount) {
  PolicyOptions o;
  o.round_to = 4;
  // s = 0.35 keeps 6 -> rounded up to 8: 0.4 and 0.3 come back.
  EXPECT_THAT(Removed(SelectByRefinedRule(kGamma, 0.35, o)),
              ::testing::ElementsAre(1, 5));
}

TEST(RefinedRuleTest, TiesAllGoTogether) {
  PolicyOptions o;
  o.halving_cap = false;
  o.min_channels = 1;
  // k = 1 -> threshold = sorted[1] = 0.5 -> every channel <= 0.5 goes:
  // three channels, more than k + 1 because of the tie.
  GroupDecision d = SelectByRefinedRule({0.5, 0.5, 0.9, 0.1}, 0.4, o);
  EXPECT_THAT(Removed(d), ::testing::ElementsAre(0, 1, 3));
}

TEST(PolicyKindTest, ParsesNames) {
  for (auto kind : {PolicyKind::kRefined, PolicyKind::kUniform,
                    PolicyKind::kGlobalThreshold, PolicyKind::kThreshold,
                    PolicyKind::kTargetFlops}) {
    auto parsed = ParsePolicyKind(PolicyKindName(kind));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, kind);
  }
  EXPECT_EQ(ParsePolicyKind("magic").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pruneserve::pruning
