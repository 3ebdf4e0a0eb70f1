// The torch-free pruning options: names both ways, the calibration rule and
// exclude-pattern checks.
#include "core/pruning/pruning_options.h"

#include "gtest/gtest.h"
#include "re2/re2.h"

namespace pruneserve::pruning {
namespace {

TEST(PruningOptionsTest, NamesRoundTrip) {
  for (const std::string& name : PolicyKindNames()) {
    auto kind = ParsePolicyKind(name);
    ASSERT_TRUE(kind.ok()) << kind.status();
    EXPECT_EQ(PolicyKindName(*kind), name);
  }
  for (const std::string& name : CriterionKindNames()) {
    auto kind = ParseCriterionKind(name);
    ASSERT_TRUE(kind.ok()) << kind.status();
    EXPECT_EQ(CriterionKindName(*kind), name);
  }
  EXPECT_EQ(PolicyKindNames(),
            (std::vector<std::string>{"refined", "uniform", "global_threshold",
                                      "threshold", "target_flops", "budgeted",
                                      "global_normalized", "lamp"}));
  EXPECT_EQ(
      CriterionKindNames(),
      (std::vector<std::string>{"bn_gamma", "l1", "l2", "apoz", "random"}));
  EXPECT_EQ(*ParseRefinedRule(""), RefinedRule::kAuto);
  EXPECT_EQ(RefinedRuleName(*ParseRefinedRule("residual")), "residual");
}

TEST(PruningOptionsTest, UnknownNamesListTheKnownOnes) {
  auto policy = ParsePolicyKind("magic");
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(policy.status().message(),
            "unknown policy 'magic' (refined, uniform, global_threshold, "
            "threshold, target_flops, budgeted, global_normalized, lamp)");
  auto criterion = ParseCriterionKind("taylor");
  EXPECT_EQ(criterion.status().message(),
            "unknown criterion 'taylor' (bn_gamma, l1, l2, apoz, random)");
  EXPECT_EQ(ParseRefinedRule("vgg").status().message(),
            "unknown refined rule 'vgg' (auto, plain, residual)");
}

TEST(PruningOptionsTest, CalibrationIsNeededForSparsityOrActivations) {
  EXPECT_TRUE(NeedsCalibration(PolicyKind::kRefined, CriterionKind::kL1));
  EXPECT_TRUE(NeedsCalibration(PolicyKind::kTargetFlops, CriterionKind::kL1));
  EXPECT_TRUE(NeedsCalibration(PolicyKind::kBudgeted, CriterionKind::kL1));
  EXPECT_FALSE(NeedsCalibration(PolicyKind::kLamp, CriterionKind::kL2));
  EXPECT_FALSE(
      NeedsCalibration(PolicyKind::kGlobalNormalized, CriterionKind::kL2));
  EXPECT_TRUE(NeedsCalibration(PolicyKind::kUniform, CriterionKind::kApoz));
  EXPECT_FALSE(NeedsCalibration(PolicyKind::kUniform, CriterionKind::kL1));
  EXPECT_FALSE(
      NeedsCalibration(PolicyKind::kThreshold, CriterionKind::kBnGamma));
  EXPECT_FALSE(
      NeedsCalibration(PolicyKind::kGlobalThreshold, CriterionKind::kRandom));
}

TEST(PruningOptionsTest, ExcludePatternsCompileWithRe2) {
  EXPECT_TRUE(ValidateExcludePattern("features\\.[0-9]+").ok());
  EXPECT_EQ(ValidateExcludePattern("(").code(),
            absl::StatusCode::kInvalidArgument);
  auto re = CompileExcludePattern("conv[12]");
  ASSERT_TRUE(re->ok());
  EXPECT_TRUE(RE2::FullMatch("conv2", *re));
  EXPECT_FALSE(RE2::FullMatch("conv3", *re));
}

}  // namespace
}  // namespace pruneserve::pruning
