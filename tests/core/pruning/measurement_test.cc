// FLOPs counter, sparsity probe and importance criteria.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/pruning/channel_dependency_graph.h"
#include "core/pruning/flops_counter.h"
#include "core/pruning/importance_criterion.h"
#include "core/pruning/layer_sparsity_probe.h"
#include "core/pruning/module_surgery.h"
#include "core/pruning/ratio_policy.h"
#include "tests/core/pruning/test_models.h"
#include "tests/testing/in_memory_batch_source.h"

namespace pruneserve::pruning {
namespace {

using pruneserve::testing::InMemoryBatchSource;
using testing::TestModel;

const ChannelGroup& Group(const ChannelDependencyGraph& g,
                          const std::string& name) {
  for (const ChannelGroup& group : g.groups()) {
    if (group.name == name) return group;
  }
  ADD_FAILURE() << "no group " << name;
  return g.groups().front();
}

TEST(FlopsCounterTest, MatchesIndependentCountOnEveryModel) {
  for (const TestModel& m : testing::AllTestModels()) {
    SCOPED_TRACE(m.name);
    auto cost = CountModelCost(m.module, m.input_shape);
    ASSERT_TRUE(cost.ok()) << cost.status();
    EXPECT_EQ(cost->total_macs, testing::IndependentMacs(m));
    EXPECT_EQ(cost->layers.size(), m.layer_hw.size());
    int64_t params = 0;
    for (const auto& p : m.module.parameters()) params += p.numel();
    EXPECT_EQ(cost->total_params, params);
    auto analysis = ChannelDependencyGraph::Build(m.module, m.input_shape);
    ASSERT_TRUE(analysis.ok());
    EXPECT_EQ(EstimateMacs(**analysis, KeepAll(**analysis)), cost->total_macs);
  }
}

TEST(FlopsCounterTest, PerLayerNumbers) {
  TestModel m = testing::MakeVggNet();
  auto cost = CountModelCost(m.module, m.input_shape);
  ASSERT_TRUE(cost.ok());
  const LayerCost& c2 = cost->layers[1];
  EXPECT_EQ(c2.name, "c2");
  EXPECT_EQ(c2.kind, "conv");
  EXPECT_EQ(c2.macs, 2 * 16 * 16 * 16 * 8 * 9);
  EXPECT_EQ(c2.params, 16 * 8 * 9);
  EXPECT_THAT(c2.output_shape, ::testing::ElementsAre(2, 16, 16, 16));
  const LayerCost& fc1 = cost->layers[4];
  EXPECT_EQ(fc1.name, "fc1");
  EXPECT_EQ(fc1.kind, "linear");
  EXPECT_EQ(fc1.macs, 2 * 32 * 64);
  EXPECT_EQ(fc1.params, 32 * 64 + 32);
  EXPECT_EQ(CountModelCost(m.module, {2, 1, 16, 16}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LayerSparsityProbeTest, MeasuresZerosDeterministically) {
  TestModel m = testing::MakeVggNet(3);
  auto analysis = ChannelDependencyGraph::Build(m.module, m.input_shape);
  ASSERT_TRUE(analysis.ok());
  auto source = InMemoryBatchSource::Random({40, 3, 16, 16}, 16, 1);
  LayerSparsityProbe::Options options;
  options.max_examples = 20;
  auto a = LayerSparsityProbe::Measure(**analysis, source, options);
  auto b = LayerSparsityProbe::Measure(**analysis, source, options);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status();
  EXPECT_EQ(a->examples, 20);
  const LayerActivationStats* c1 = a->Find("c1");
  const LayerActivationStats* c2 = a->Find("c2");
  ASSERT_NE(c1, nullptr);
  ASSERT_NE(c2, nullptr);
  EXPECT_EQ(c1->input_sparsity, 0.0);  // raw gaussian images
  EXPECT_GT(c2->input_sparsity, 0.2);  // after BN + ReLU
  EXPECT_LT(c2->input_sparsity, 0.8);
  ASSERT_EQ(c2->channel_apoz.size(), 8u);
  double mean = 0;
  for (double v : c2->channel_apoz) mean += v / 8;
  EXPECT_NEAR(mean, c2->input_sparsity, 1e-9);
  EXPECT_EQ(a->Find("fc1")->channel_apoz.size(), 64u);
  for (size_t i = 0; i < a->layers.size(); ++i) {
    EXPECT_EQ(a->layers[i].input_sparsity, b->layers[i].input_sparsity);
  }
  // A zeroed BN channel is always zero after ReLU.
  testing::ZeroBatchNormChannels(m.module, {"bn1"}, {4});
  auto c = LayerSparsityProbe::Measure(**analysis, source, options);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->Find("c2")->channel_apoz[4], 1.0);
}

// c3 reads a max-pool of c2's ReLU output: pooled, few zeros survive; on
// the pool's input (before_pooling) it reads like c2 does.
TEST(LayerSparsityProbeTest, BeforePoolingMeasuresWhatThePoolReads) {
  TestModel m = testing::MakeVggNet(5);
  auto analysis = ChannelDependencyGraph::Build(m.module, m.input_shape);
  ASSERT_TRUE(analysis.ok());
  auto source = InMemoryBatchSource::Random({32, 3, 16, 16}, 16, 2);
  LayerSparsityProbe::Options options;
  auto pooled = LayerSparsityProbe::Measure(**analysis, source, options);
  options.before_pooling = true;
  auto before = LayerSparsityProbe::Measure(**analysis, source, options);
  ASSERT_TRUE(pooled.ok() && before.ok()) << pooled.status();
  const double after_pool = pooled->Find("c3")->input_sparsity;
  const double at_relu = before->Find("c3")->input_sparsity;
  EXPECT_GT(at_relu, after_pool + 0.1);
  EXPECT_GT(at_relu, 0.2);
  EXPECT_EQ(before->Find("c3")->channel_apoz.size(), 16u);
  // Layers not fed by a pool read the same either way.
  EXPECT_EQ(before->Find("c2")->input_sparsity,
            pooled->Find("c2")->input_sparsity);
}

TEST(ImportanceCriterionTest, ScoresFromTensorsAndActivations) {
  TestModel m = testing::MakeMobileNetV2(5);
  auto analysis = ChannelDependencyGraph::Build(m.module, m.input_shape);
  ASSERT_TRUE(analysis.ok());
  CriterionContext ctx{analysis->get(), nullptr, 11};
  const ChannelGroup& stem = Group(**analysis, "stem");
  const ChannelGroup& head = Group(**analysis, "head");

  auto bn = MakeCriterion("bn_gamma");
  ASSERT_TRUE(bn.ok());
  auto head_scores = (*bn)->Score(head, ctx);
  ASSERT_TRUE(head_scores.ok());
  torch::Tensor gamma =
      m.module.attr("head_bn").toModule().attr("weight").toTensor();
  for (int i = 0; i < 32; ++i) {
    EXPECT_NEAR((*head_scores)[i], std::abs(gamma[i].item<double>()), 1e-7);
  }
  // Two BNs (expand and depthwise): sum of max-normalised |gamma|.
  auto ir1 = (*bn)->Score(Group(**analysis, "ir1.expand"), ctx);
  ASSERT_TRUE(ir1.ok());
  torch::Tensor g1 = m.module.attr("ir1")
                         .toModule()
                         .attr("bn1")
                         .toModule()
                         .attr("weight")
                         .toTensor()
                         .abs();
  torch::Tensor g2 = m.module.attr("ir1")
                         .toModule()
                         .attr("bn2")
                         .toModule()
                         .attr("weight")
                         .toTensor()
                         .abs();
  torch::Tensor expect = g1 / g1.max() + g2 / g2.max();
  EXPECT_NEAR((*ir1)[7], expect[7].item<double>(), 1e-6);

  auto l1 = MakeCriterion("l1");
  auto l1_scores = (*l1)->Score(head, ctx);
  ASSERT_TRUE(l1_scores.ok());
  torch::Tensor w = m.module.attr("head").toModule().attr("weight").toTensor();
  // Every channel, whatever its row length (the sum runs in eights).
  ASSERT_EQ(static_cast<int64_t>(l1_scores->size()), w.size(0));
  for (int64_t c = 0; c < w.size(0); ++c) {
    EXPECT_NEAR((*l1_scores)[c], w[c].abs().sum().item<double>(), 1e-5);
  }
  auto l2 = MakeCriterion("l2");
  EXPECT_NEAR((*(*l2)->Score(head, ctx))[3], w[3].norm().item<double>(), 1e-5);

  auto random = MakeCriterion("random");
  auto r1 = (*random)->Score(stem, ctx);
  auto r2 = (*random)->Score(stem, ctx);
  CriterionContext other = ctx;
  other.seed = 12;
  auto r3 = (*random)->Score(stem, other);
  EXPECT_EQ(*r1, *r2);
  EXPECT_NE(*r1, *r3);

  auto apoz = MakeCriterion("apoz");
  EXPECT_EQ((*apoz)->Score(head, ctx).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto source = InMemoryBatchSource::Random({16, 3, 16, 16}, 8, 3);
  auto profile = LayerSparsityProbe::Measure(**analysis, source, {});
  ASSERT_TRUE(profile.ok());
  ctx.sparsity = &*profile;
  auto apoz_scores = (*apoz)->Score(head, ctx);
  ASSERT_TRUE(apoz_scores.ok()) << apoz_scores.status();
  EXPECT_NEAR((*apoz_scores)[0], 1.0 - profile->Find("fc")->channel_apoz[0],
              1e-9);
  EXPECT_EQ(MakeCriterion("taylor").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ImportanceCriterionTest, AggregationNormalisesMembers) {
  EXPECT_THAT(AggregateMemberScores({{2.0, 4.0}}),
              ::testing::ElementsAre(2.0, 4.0));
  EXPECT_THAT(AggregateMemberScores({{2.0, 4.0}, {10.0, 5.0}}),
              ::testing::ElementsAre(1.5, 1.5));
}

}  // namespace
}  // namespace pruneserve::pruning
