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

// The authors' VGG script's guards (plain chains) and ResNet-50 script's
// (residual networks).
const RefinedGuards kPlain = GuardsFor(PolicyOptions{}, false);
const RefinedGuards kResidual = GuardsFor(PolicyOptions{}, true);

TEST(RefinedRuleTest, RemovesKPlusOneChannelsAtOrBelowThreshold) {
  PolicyOptions o;
  // s = 0.35 < 0.5: r = 0.35, k = floor(3.5) = 3, threshold = sorted[3] = 0.4.
  double r = RefinedRatio(0.35, kPlain);
  EXPECT_DOUBLE_EQ(r, 0.35);
  GroupDecision d = SelectByRefinedRule(kGamma, r, o, kPlain);
  EXPECT_THAT(Removed(d), ::testing::ElementsAre(1, 3, 5, 7));
  EXPECT_DOUBLE_EQ(d.threshold, 0.4);
}

TEST(RefinedRuleTest, HalvingCapAppliesFromHalfUnderThePlainRule) {
  PolicyOptions o;
  // s = 0.6 >= 0.5 -> r = 0.3 -> k = 3 -> four channels go.
  EXPECT_DOUBLE_EQ(RefinedRatio(0.6, kPlain), 0.3);
  EXPECT_THAT(Removed(SelectByRefinedRule(kGamma, RefinedRatio(0.6, kPlain), o,
                                          kPlain)),
              ::testing::ElementsAre(1, 3, 5, 7));
  // s = 0.5 is capped too: r = 0.25 -> k = 2 -> threshold 0.3, three go.
  EXPECT_DOUBLE_EQ(RefinedRatio(0.5, kPlain), 0.25);
  GroupDecision d = SelectByRefinedRule(kGamma, 0.25, o, kPlain);
  EXPECT_THAT(Removed(d), ::testing::ElementsAre(1, 3, 5));
  EXPECT_DOUBLE_EQ(d.threshold, 0.3);
  // The residual rule has no cap: s = 0.6 removes floor(6)+1 = 7.
  EXPECT_DOUBLE_EQ(RefinedRatio(0.6, kResidual), 0.6);
  EXPECT_EQ(Removed(SelectByRefinedRule(kGamma, 0.6, o, kResidual)).size(), 7u);
  // An explicit option overrides the rule.
  o.halving_cap = false;
  EXPECT_DOUBLE_EQ(RefinedRatio(0.6, GuardsFor(o, false)), 0.6);
}

TEST(RefinedRuleTest, PlainRuleSkipsLowSparsityButDropsZeroScores) {
  PolicyOptions o;
  EXPECT_EQ(RefinedRatio(0.09, kPlain), 0.0);
  EXPECT_GT(RefinedRatio(0.1, kPlain), 0.0);
  GroupDecision d =
      SelectByRefinedRule(kGamma, RefinedRatio(0.09, kPlain), o, kPlain);
  EXPECT_TRUE(Removed(d).empty());
  // The VGG script's threshold for a skipped layer is 0: exact zeros go.
  std::vector<double> with_zero = kGamma;
  with_zero[4] = 0.0;
  EXPECT_THAT(Removed(SelectByRefinedRule(with_zero, 0.0, o, kPlain)),
              ::testing::ElementsAre(4));
  o.min_sparsity = 0.05;
  EXPECT_DOUBLE_EQ(RefinedRatio(0.09, GuardsFor(o, false)), 0.09);
}

TEST(RefinedRuleTest, ResidualRuleAppliesKEqualsZeroAtZeroSparsity) {
  PolicyOptions o;
  // s = 0 -> k = 0 -> threshold = smallest score: that channel goes.
  EXPECT_EQ(RefinedRatio(0.0, kResidual), 0.0);
  GroupDecision d = SelectByRefinedRule(kGamma, 0.0, o, kResidual);
  EXPECT_THAT(Removed(d), ::testing::ElementsAre(1));
  // No skip below 0.1 either: s = 0.05 -> k = 0 as well.
  EXPECT_DOUBLE_EQ(RefinedRatio(0.05, kResidual), 0.05);
}

TEST(RefinedRuleTest, FewerThanTwoSurvivorsKeepEveryNonZeroScore) {
  PolicyOptions o;
  const std::vector<double> g = {0.4, 0.1, 0.3, 0.2};
  // r = 0.99 -> k = 3 -> threshold = 0.4 removes all; the scripts then keep
  // every channel whose |gamma| > 0, not the best two.
  EXPECT_TRUE(Removed(SelectByRefinedRule(g, 0.99, o, kResidual)).empty());
  const std::vector<double> z = {0.0, 0.1, 0.0, 0.0};
  // Only one non-zero channel: min_channels restores the next best.
  EXPECT_THAT(Removed(SelectByRefinedRule(z, 0.99, o, kResidual)),
              ::testing::ElementsAre(2, 3));
  o.min_channels = 1;
  EXPECT_THAT(Removed(SelectByRefinedRule(z, 0.99, o, kResidual)),
              ::testing::ElementsAre(0, 2, 3));
}

TEST(RefinedRuleTest, RoundToRaisesKeptCount) {
  PolicyOptions o;
  o.round_to = 4;
  // s = 0.35 keeps 6 -> rounded up to 8: 0.4 and 0.3 come back.
  EXPECT_THAT(Removed(SelectByRefinedRule(kGamma, 0.35, o, kPlain)),
              ::testing::ElementsAre(1, 5));
}

TEST(RefinedRuleTest, TiesAllGoTogether) {
  PolicyOptions o;
  o.min_channels = 1;
  // k = 1 -> threshold = sorted[1] = 0.5 -> every channel <= 0.5 goes:
  // three channels, more than k + 1 because of the tie.
  GroupDecision d = SelectByRefinedRule({0.5, 0.5, 0.9, 0.1}, 0.4, o, kPlain);
  EXPECT_THAT(Removed(d), ::testing::ElementsAre(0, 1, 3));
}

TEST(RefinedRuleTest, ParsesRulesAndDescribesThem) {
  EXPECT_EQ(*ParseRefinedRule("auto"), RefinedRule::kAuto);
  EXPECT_EQ(*ParseRefinedRule("plain"), RefinedRule::kPlain);
  EXPECT_EQ(*ParseRefinedRule("residual"), RefinedRule::kResidual);
  EXPECT_EQ(ParseRefinedRule("vgg").status().code(),
            absl::StatusCode::kInvalidArgument);
  PolicyOptions o;
  o.refined_rule = RefinedRule::kPlain;
  EXPECT_FALSE(GuardsFor(o, true).threshold_at_zero);
  EXPECT_TRUE(GuardsFor(o, true).halving_cap);
  EXPECT_EQ(kPlain.Describe(),
            "plain (VGG script): k = int(C * s), halved when s >= 0.5, below "
            "s = 0.10 only zero scores go");
  EXPECT_EQ(kResidual.Describe(),
            "residual (ResNet-50 script): k = int(C * s), no skip");
}

TEST(PolicyKindTest, ParsesNames) {
  for (auto kind : {PolicyKind::kRefined, PolicyKind::kUniform,
                    PolicyKind::kGlobalThreshold, PolicyKind::kThreshold,
                    PolicyKind::kTargetFlops, PolicyKind::kBudgeted,
                    PolicyKind::kGlobalNormalized, PolicyKind::kLamp}) {
    auto parsed = ParsePolicyKind(PolicyKindName(kind));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, kind);
  }
  EXPECT_EQ(ParsePolicyKind("magic").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ExcludePatternTest, Re2SyntaxIsAcceptedAndOtherTextIsRefusedByName) {
  EXPECT_TRUE(ValidateExcludePattern("layer4\\..*").ok());
  EXPECT_TRUE(ValidateExcludePattern("features.(0|1)").ok());
  // Backreferences are not RE2 (they are what makes backtracking regex
  // engines exponential).
  absl::Status s = ValidateExcludePattern("(a)\\1");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), ::testing::HasSubstr("(a)\\1"));
  EXPECT_THAT(s.message(), ::testing::HasSubstr("RE2"));
  // A repetition count beyond the program memory cap.
  EXPECT_FALSE(ValidateExcludePattern("((a{1000}){1000}){1000}").ok());
}

TEST(RefinedRuleTest, CumulativeHalvingCapsTheTotalOverRounds) {
  // First round: the same as the per-round rule.
  for (double s : {0.05, 0.3, 0.5, 0.6, 0.9}) {
    EXPECT_DOUBLE_EQ(CumulativeRefinedRatio(s, 64, 64, kPlain),
                     RefinedRatio(s, kPlain))
        << s;
  }
  // Half already gone: any further cut would pass 50 % in all, and the
  // halved total (37.5 % for s = 0.5) is below what is gone: nothing.
  EXPECT_DOUBLE_EQ(CumulativeRefinedRatio(0.5, 32, 64, kPlain), 0.0);
  // A quarter gone, s = 0.2: 40 % in all, under the cap: s itself.
  EXPECT_DOUBLE_EQ(CumulativeRefinedRatio(0.2, 48, 64, kPlain), 0.2);
  // A quarter gone, s = 0.6: 70 % in all, halved to 35 %: keep 41.6 of 48.
  EXPECT_NEAR(CumulativeRefinedRatio(0.6, 48, 64, kPlain),
              (48 - 64 * 0.65) / 48, 1e-12);
  // Below min_sparsity, and under the residual rule (no cap), as before.
  EXPECT_EQ(CumulativeRefinedRatio(0.05, 48, 64, kPlain), 0.0);
  EXPECT_DOUBLE_EQ(CumulativeRefinedRatio(0.6, 48, 64, kResidual), 0.6);
}

}  // namespace
}  // namespace pruneserve::pruning
