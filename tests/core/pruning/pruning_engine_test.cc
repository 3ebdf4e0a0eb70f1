#include "core/pruning/pruning_engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/pruning/flops_counter.h"
#include "core/pruning/pruning_report.h"
#include "tests/core/pruning/test_models.h"
#include "tests/testing/in_memory_batch_source.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::pruning {
namespace {

using pruneserve::testing::InMemoryBatchSource;
using ::testing::HasSubstr;
using testing::TestModel;

torch::Tensor Forward(torch::jit::Module m, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  m.eval();
  return m.forward({x}).toTensor();
}

const v1::LayerPruningReport* Row(const v1::PruningReport& r,
                                  const std::string& name) {
  for (const auto& l : r.layers()) {
    if (l.name() == name) return &l;
  }
  return nullptr;
}

// Which BatchNorms and channels to zero per model, keyed by group name.
struct ZeroPlan {
  std::string group;
  std::vector<std::string> bns;
  std::vector<int64_t> channels;
};

std::vector<ZeroPlan> ZeroPlanFor(const std::string& model) {
  if (model == "vgg") {
    return {{"c2", {"bn2"}, {1, 5, 9}}, {"c4", {"bn4"}, {0, 3}}};
  }
  if (model == "basic_resnet") {
    return {{"layer1.conv1", {"layer1.bn1"}, {2, 5}},
            {"layer2.conv1", {"layer2.bn1"}, {0, 7, 11}}};
  }
  if (model == "bottleneck_resnet") {
    return {{"layer1.conv1", {"layer1.bn1"}, {1, 4}},
            {"layer1.conv2", {"layer1.bn2"}, {0, 3}},
            {"layer2.conv1", {"layer2.bn1"}, {2}}};
  }
  if (model == "mobilenetv2" || model == "mobilenetv2_const") {
    return {{"ir1.expand", {"ir1.bn1", "ir1.bn2"}, {0, 5, 17}},
            {"ir2.expand", {"ir2.bn1", "ir2.bn2"}, {3, 30}}};
  }
  if (model == "catnet") {
    return {{"stem", {"stem_bn"}, {3}},
            {"a", {"a_bn"}, {1, 4}},
            {"b", {"b_bn"}, {2}},
            {"c", {"c_bn"}, {0, 5}}};
  }
  if (model == "flipnet") return {{"a", {"a_bn"}, {0, 2}}};
  return {};
}

class ExactnessTest : public ::testing::TestWithParam<int> {};

TEST_P(ExactnessTest, ZeroedChannelsPruneWithoutChangingOutputs) {
  TestModel m = testing::AllTestModels(7)[GetParam()];
  SCOPED_TRACE(m.name);
  std::map<std::string, size_t> removed;
  for (const ZeroPlan& z : ZeroPlanFor(m.name)) {
    testing::ZeroBatchNormChannels(m.module, z.bns, z.channels);
    removed[z.group] = z.channels.size();
  }
  ASSERT_FALSE(removed.empty());
  PruningOptions options;
  options.policy.kind = PolicyKind::kThreshold;
  options.policy.threshold = 0.0;
  auto result = PruneModule(m.module, m.input_shape, options);
  ASSERT_TRUE(result.ok()) << result.status();
  for (const auto& l : result->report.layers()) {
    auto it = removed.find(l.name());
    const int64_t expect = it == removed.end() ? 0 : it->second;
    EXPECT_EQ(l.channels_before() - l.channels_after(), expect) << l.name();
  }
  torch::manual_seed(3);
  for (int trial = 0; trial < 3; ++trial) {
    torch::Tensor x = torch::randn(m.input_shape);
    torch::Tensor want = Forward(m.module, x);
    torch::Tensor got = Forward(result->module, x);
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_LT((got - want).abs().max().item<double>(), 1e-5);
  }
  EXPECT_LT(result->report.params_after(), result->report.params_before());
  EXPECT_LT(result->report.flops_after(), result->report.flops_before());
}

INSTANTIATE_TEST_SUITE_P(AllModels, ExactnessTest, ::testing::Range(0, 7));

TEST(PruningEngineTest, CallerModuleIsUntouched) {
  TestModel m = testing::MakeVggNet();
  auto before = CountModelCost(m.module, m.input_shape);
  PruningOptions options;
  options.policy.kind = PolicyKind::kUniform;
  options.policy.ratio = 0.5;
  auto result = PruneModule(m.module, m.input_shape, options);
  ASSERT_TRUE(result.ok()) << result.status();
  auto after = CountModelCost(m.module, m.input_shape);
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_EQ(before->total_macs, after->total_macs);
  EXPECT_EQ(before->total_params, after->total_params);
  // The two share no memory: training the pruned copy in place (every
  // tensor, the kept classifier included) leaves the caller's outputs.
  torch::Tensor x = torch::randn(m.input_shape);
  torch::Tensor want = Forward(m.module, x);
  {
    torch::NoGradGuard no_grad;
    for (const auto& p : result->module.named_parameters()) p.value.mul_(3);
    for (const auto& b : result->module.named_buffers()) b.value.add_(1);
  }
  EXPECT_TRUE(torch::equal(Forward(m.module, x), want));
  // And the result is a tree of leaves that trains.
  for (const auto& p : result->module.named_parameters()) {
    EXPECT_TRUE(p.value.is_leaf()) << p.name;
    EXPECT_TRUE(p.value.requires_grad()) << p.name;
  }
}

struct PolicyCase {
  std::string name;
  PolicyKind kind;
  std::string criterion;
};

class EveryPolicyTest : public ::testing::TestWithParam<std::tuple<int, int>> {
};

std::vector<PolicyCase> PolicyCases() {
  return {{"refined", PolicyKind::kRefined, "bn_gamma"},
          {"uniform_l1", PolicyKind::kUniform, "l1"},
          {"uniform_l2", PolicyKind::kUniform, "l2"},
          {"uniform_random", PolicyKind::kUniform, "random"},
          {"global_apoz", PolicyKind::kGlobalThreshold, "apoz"},
          {"global_bn", PolicyKind::kGlobalThreshold, "bn_gamma"},
          {"threshold", PolicyKind::kThreshold, "bn_gamma"},
          {"target_flops", PolicyKind::kTargetFlops, "bn_gamma"},
          {"budgeted", PolicyKind::kBudgeted, "bn_gamma"},
          {"global_normalized", PolicyKind::kGlobalNormalized, "l2"},
          {"lamp", PolicyKind::kLamp, "l2"}};
}

TEST_P(EveryPolicyTest, PrunedModelRunsAndCountsMatch) {
  TestModel m = testing::AllTestModels(1)[std::get<0>(GetParam())];
  PolicyCase pc = PolicyCases()[std::get<1>(GetParam())];
  SCOPED_TRACE(m.name + " / " + pc.name);
  std::vector<int64_t> calib_shape = m.input_shape;
  calib_shape[0] = 32;
  auto source = InMemoryBatchSource::Random(calib_shape, 8, 5);
  PruningOptions options;
  options.criterion = *ParseCriterionKind(pc.criterion);
  options.policy.kind = pc.kind;
  options.policy.ratio = 0.4;
  options.policy.threshold = 0.8;  // |gamma| is uniform in [0.5, 1.5)
  options.policy.target_flops_reduction = 0.15;
  options.policy.flops_tolerance = 0.10;  // tiny models: coarse steps
  options.policy.prune_residual_stream = true;
  auto result = PruneModule(m.module, m.input_shape, options, &source);
  ASSERT_TRUE(result.ok()) << result.status();
  const auto& r = result->report;
  EXPECT_LT(r.params_after(), r.params_before());
  EXPECT_LT(r.flops_after(), r.flops_before());
  torch::Tensor out = Forward(result->module, torch::randn(m.input_shape));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{m.input_shape[0], 10}));
  // FLOPs of the engine's counter equal a count from weight shapes and
  // construction-time spatial sizes.
  TestModel pruned = m;
  pruned.module = result->module;
  EXPECT_EQ(r.flops_after(), testing::IndependentMacs(pruned));
  EXPECT_EQ(r.flops_before(), testing::IndependentMacs(m));
  for (const auto& l : r.layers()) {
    EXPECT_GE(l.channels_after(), std::min<int64_t>(2, l.channels_before()))
        << l.name();
  }
  if (PolicyHasTarget(pc.kind)) {
    double got = 1.0 - static_cast<double>(r.flops_after()) / r.flops_before();
    EXPECT_NEAR(got, 0.15, 0.10);
  }
  std::string table = RenderPruningReport(r);
  EXPECT_THAT(table, HasSubstr("MACs:"));
}

INSTANTIATE_TEST_SUITE_P(ModelsTimesPolicies, EveryPolicyTest,
                         ::testing::Combine(::testing::Range(0, 7),
                                            ::testing::Range(0, 11)));

TEST(PruningEngineTest, TargetFlopsWithinOnePercentOnWiderNet) {
  TestModel m = testing::MakeWideVggNet(2);
  auto source = InMemoryBatchSource::Random({32, 3, 32, 32}, 16, 9);
  PruningOptions options;
  options.policy.kind = PolicyKind::kTargetFlops;
  options.policy.target_flops_reduction = 0.30;
  auto result = PruneModule(m.module, m.input_shape, options, &source);
  ASSERT_TRUE(result.ok()) << result.status();
  const auto& r = result->report;
  double got = 1.0 - static_cast<double>(r.flops_after()) / r.flops_before();
  EXPECT_NEAR(got, 0.30, 0.01) << RenderPruningReport(r);
  EXPECT_GT(r.ratio_scale(), 0.0);
}

TEST(PruningEngineTest, RefinedRatiosFollowMeasuredSparsity) {
  TestModel m = testing::MakeVggNet(4);
  auto source = InMemoryBatchSource::Random({64, 3, 16, 16}, 16, 2);
  PruningOptions options;  // refined + bn_gamma
  auto result = PruneModule(m.module, m.input_shape, options, &source);
  ASSERT_TRUE(result.ok()) << result.status();
  const auto& r = result->report;
  EXPECT_EQ(r.calibration_examples(), 64);
  const auto* c2 = Row(r, "c2");
  ASSERT_NE(c2, nullptr);
  ASSERT_GT(c2->sparsity(), 0.1);
  const double expect_ratio =
      c2->sparsity() >= 0.5 ? 0.5 * c2->sparsity() : c2->sparsity();
  EXPECT_DOUBLE_EQ(c2->ratio(), expect_ratio);
  // k+1 channels go (|gamma| values are distinct).
  const int64_t k = static_cast<int64_t>(16 * expect_ratio);
  EXPECT_EQ(c2->channels_after(), 16 - (k + 1));
}

TEST(PruningEngineTest, RefinedRuleFollowsTheArchitectureFamily) {
  auto source = InMemoryBatchSource::Random({32, 3, 16, 16}, 16, 2);
  PruningOptions options;  // refined + bn_gamma, rule auto
  auto vgg = PruneModule(testing::MakeVggNet(4).module, {2, 3, 16, 16}, options,
                         &source);
  ASSERT_TRUE(vgg.ok()) << vgg.status();
  EXPECT_THAT(vgg->report.refined_rule(), HasSubstr("plain (VGG script)"));
  EXPECT_THAT(vgg->report.refined_rule(), HasSubstr("halved"));
  auto res = PruneModule(testing::MakeBottleneckResNet(4).module,
                         {2, 3, 16, 16}, options, &source);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_THAT(res->report.refined_rule(),
              HasSubstr("residual (ResNet-50 script)"));
  EXPECT_THAT(res->report.refined_rule(), HasSubstr("no skip"));
  EXPECT_THAT(RenderPruningReport(res->report), HasSubstr("refined rule:"));
  // Under the residual rule every inner layer loses at least k + 1 >= 1
  // channel, even where sparsity is below 0.1.
  for (const auto& l : res->report.layers()) {
    if (!l.skip_reason().empty()) continue;
    EXPECT_LT(l.channels_after(), l.channels_before()) << l.name();
    EXPECT_EQ(l.ratio(), l.sparsity()) << l.name();  // no halving
  }
  // Forcing the plain rule on the ResNet brings the guards back.
  options.policy.refined_rule = RefinedRule::kPlain;
  auto forced = PruneModule(testing::MakeBottleneckResNet(4).module,
                            {2, 3, 16, 16}, options, &source);
  ASSERT_TRUE(forced.ok());
  EXPECT_THAT(forced->report.refined_rule(), HasSubstr("plain"));
}

TEST(PruningEngineTest, RefinedWithoutCalibrationIsFailedPrecondition) {
  TestModel m = testing::MakeVggNet();
  auto result = PruneModule(m.module, m.input_shape, PruningOptions{});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(PruningEngineTest, UnsupportedBranchIsReportedAndOthersPruned) {
  TestModel m = testing::MakeUnsupportedBranchNet();
  PruningOptions options;
  options.policy.kind = PolicyKind::kUniform;
  options.policy.ratio = 0.5;
  auto result = PruneModule(m.module, m.input_shape, options);
  ASSERT_TRUE(result.ok()) << result.status();
  const auto* b = Row(result->report, "b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->channels_after(), b->channels_before());
  EXPECT_THAT(b->skip_reason(), HasSubstr("aten::flip"));
  const auto* a = Row(result->report, "a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->channels_after(), 3);
  EXPECT_THAT(RenderPruningReport(result->report), HasSubstr("aten::flip"));
}

TEST(PruningEngineTest, ResidualStreamKeptByDefault) {
  TestModel m = testing::MakeBottleneckResNet();
  PruningOptions options;
  options.policy.kind = PolicyKind::kUniform;
  options.policy.ratio = 0.5;
  auto result = PruneModule(m.module, m.input_shape, options);
  ASSERT_TRUE(result.ok()) << result.status();
  for (const auto& l : result->report.layers()) {
    const bool inner = l.name() == "layer1.conv1" ||
                       l.name() == "layer1.conv2" ||
                       l.name() == "layer2.conv1" || l.name() == "layer2.conv2";
    if (inner) {
      EXPECT_EQ(l.channels_after(), 4) << l.name();
    } else {
      EXPECT_EQ(l.channels_after(), l.channels_before()) << l.name();
      EXPECT_FALSE(l.skip_reason().empty()) << l.name();
    }
  }
}

TEST(PruningEngineTest, ExcludeRoundToAndMinChannels) {
  TestModel m = testing::MakeVggNet();
  PruningOptions options;
  options.policy.kind = PolicyKind::kUniform;
  options.policy.ratio = 0.9;
  options.policy.exclude = {"c1", "fc.*"};
  options.policy.round_to = 4;
  options.policy.min_channels = 3;
  auto result = PruneModule(m.module, m.input_shape, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Row(result->report, "c1")->channels_after(), 8);
  EXPECT_EQ(Row(result->report, "c1")->skip_reason(), "excluded");
  EXPECT_EQ(Row(result->report, "fc1")->channels_after(), 32);
  // 16 * 0.9 -> 14 removed, 2 kept -> min 3 -> round to 4.
  EXPECT_EQ(Row(result->report, "c2")->channels_after(), 4);
}

TEST(PruningEngineTest, ExcludeMatchesFullNamesWithRe2InLinearTime) {
  TestModel m = testing::MakeVggNet();
  PruningOptions options;
  options.policy.kind = PolicyKind::kUniform;
  options.policy.ratio = 0.5;
  // Nested quantifiers backtrack exponentially on a non-match in
  // ECMAScript engines; RE2 matches in linear time. "c" alone is a prefix
  // of every conv name: full match only, so it excludes nothing. "[c2" is
  // no pattern at all and only excludes a layer of that exact name.
  options.policy.exclude = {"(c*)*(c*)*(c*)*x", "c", "[c2", "c(3|9)"};
  auto result = PruneModule(m.module, m.input_shape, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Row(result->report, "c3")->skip_reason(), "excluded");
  EXPECT_EQ(Row(result->report, "c1")->skip_reason(), "");
  EXPECT_EQ(Row(result->report, "c2")->skip_reason(), "");
  EXPECT_LT(Row(result->report, "c2")->channels_after(),
            Row(result->report, "c2")->channels_before());
}

TEST(PruningEngineTest, SavedArchiveReloadsWithSameOutputs) {
  pruneserve::testing::TempDir dir;
  for (TestModel m :
       {testing::MakeCatNet(), testing::MakeMobileNetV2(0, true)}) {
    SCOPED_TRACE(m.name);
    const std::string in = dir.Join(m.name + ".pt");
    const std::string out = dir.Join(m.name + "_pruned.pt");
    m.module.save(in);
    PruningOptions options;
    options.policy.kind = PolicyKind::kUniform;
    options.policy.ratio = 0.5;
    auto report = PruneTorchScriptFile(in, out, m.input_shape, options);
    ASSERT_TRUE(report.ok()) << report.status();
    auto direct = PruneModule(m.module, m.input_shape, options);
    ASSERT_TRUE(direct.ok());
    torch::jit::Module loaded = torch::jit::load(out);
    torch::Tensor x = torch::randn(m.input_shape);
    EXPECT_TRUE(torch::allclose(Forward(loaded, x), Forward(direct->module, x),
                                1e-5, 1e-6));
    EXPECT_EQ(report->flops_after(), direct->report.flops_after());
    auto cost = CountModelCost(loaded, m.input_shape);
    ASSERT_TRUE(cost.ok());
    EXPECT_EQ(cost->total_macs, report->flops_after());
  }
  EXPECT_EQ(PruneTorchScriptFile(dir.Join("missing.pt"), dir.Join("x.pt"),
                                 {1, 3, 16, 16}, PruningOptions{})
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST(PruningEngineTest, PrunedModuleFineTunes) {
  TestModel m = testing::MakeBasicResNet();
  PruningOptions options;
  options.policy.kind = PolicyKind::kUniform;
  options.policy.ratio = 0.5;
  auto result = PruneModule(m.module, m.input_shape, options);
  ASSERT_TRUE(result.ok()) << result.status();
  torch::jit::Module pruned = result->module;
  pruned.train();
  std::vector<torch::Tensor> params;
  for (const auto& p : pruned.parameters()) params.push_back(p);
  ASSERT_FALSE(params.empty());
  for (const auto& p : params) EXPECT_TRUE(p.requires_grad());
  torch::Tensor loss =
      pruned.forward({torch::randn(m.input_shape)}).toTensor().pow(2).mean();
  loss.backward();
  for (const auto& p : params) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().sizes(), p.sizes());
  }
}

}  // namespace
}  // namespace pruneserve::pruning
