// The budgeted policy end to end through the engine, and the global
// policies' normalisation on a real analysis.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/script.h>

#include <cmath>

#include "core/pruning/pruning_engine.h"
#include "core/pruning/pruning_report.h"
#include "core/pruning/ratio_policy.h"
#include "tests/core/pruning/test_models.h"
#include "tests/testing/in_memory_batch_source.h"

namespace pruneserve::pruning {
namespace {

using pruneserve::testing::InMemoryBatchSource;

const v1::LayerPruningReport* Layer(const v1::PruningReport& r,
                                    const std::string& name) {
  for (const auto& l : r.layers()) {
    if (l.name() == name) return &l;
  }
  return nullptr;
}

double MacReduction(const v1::PruningReport& r) {
  return 1.0 - static_cast<double>(r.flops_after()) / r.flops_before();
}

int64_t Weights(const torch::jit::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.named_parameters(/*recurse=*/true)) {
    if (p.value.dim() >= 2) n += p.value.numel();
  }
  return n;
}

// One measurement on the unpruned model (the default takes three), so that
// every reported curve starts at 0 removed; the stages test says 3.
PruningOptions Budgeted(double target) {
  PruningOptions o;
  o.policy.kind = PolicyKind::kBudgeted;
  o.policy.target_flops_reduction = target;
  o.policy.sensitivity_stages = 1;
  return o;
}

TEST(BudgetedPolicyTest, ReachesTheMacTargetAndReportsDamageCurves) {
  testing::TestModel m = testing::MakeWideVggNet(2);
  auto source = InMemoryBatchSource::Random({32, 3, 32, 32}, 16, 9);
  auto result = PruneModule(m.module, m.input_shape, Budgeted(0.4), &source);
  ASSERT_TRUE(result.ok()) << result.status();
  const v1::PruningReport& r = result->report;
  // The allocation is exact on the cost model, and the give-back pass keeps
  // the overshoot within one ladder step of one layer.
  EXPECT_GE(MacReduction(r), 0.4) << RenderPruningReport(r);
  EXPECT_LT(MacReduction(r), 0.45) << RenderPruningReport(r);
  EXPECT_EQ(r.policy(), "budgeted");
  EXPECT_GT(r.sensitivity_evaluations(), 4);
  EXPECT_GT(r.base_loss(), 0.0);
  for (const std::string name : {"c1", "c2", "c3", "c4"}) {
    const auto* l = Layer(r, name);
    ASSERT_NE(l, nullptr) << name;
    ASSERT_GE(l->damage_size(), 2) << name;
    ASSERT_EQ(l->damage_size(), l->damage_removed_size());
    EXPECT_EQ(l->damage_removed(0), 0);
    EXPECT_EQ(l->damage(0), 0.0);
    // The chosen count is a point of the ladder.
    const int64_t removed = l->channels_before() - l->channels_after();
    EXPECT_THAT(l->damage_removed(), ::testing::Contains(removed)) << name;
  }
  EXPECT_THAT(RenderPruningReport(r), ::testing::HasSubstr("damage 3:"));
}

TEST(BudgetedPolicyTest, LeavesTheCallersTensorsAsTheyWere) {
  testing::TestModel m = testing::MakeWideVggNet(3);
  std::vector<torch::Tensor> before;
  for (const auto& p : m.module.named_parameters(true)) {
    before.push_back(p.value.clone());
  }
  auto source = InMemoryBatchSource::Random({32, 3, 32, 32}, 16, 1);
  auto result = PruneModule(m.module, m.input_shape, Budgeted(0.3), &source);
  ASSERT_TRUE(result.ok()) << result.status();
  size_t i = 0;
  for (const auto& p : m.module.named_parameters(true)) {
    EXPECT_TRUE(torch::equal(p.value, before[i++])) << p.name;
  }
}

TEST(BudgetedPolicyTest, SpendsTheBudgetWhereChannelsCarryNothing) {
  testing::TestModel m = testing::MakeWideVggNet(4);
  // 48 of c2's 64 channels are dead (gamma = beta = 0): taking them out
  // costs nothing, so the budget goes there first.
  std::vector<int64_t> dead(48);
  for (int64_t i = 0; i < 48; ++i) dead[i] = i;
  testing::ZeroBatchNormChannels(m.module, {"bn2"}, dead);
  auto source = InMemoryBatchSource::Random({32, 3, 32, 32}, 16, 4);
  auto result = PruneModule(m.module, m.input_shape, Budgeted(0.25), &source);
  ASSERT_TRUE(result.ok()) << result.status();
  const v1::PruningReport& r = result->report;
  const auto* c2 = Layer(r, "c2");
  ASSERT_NE(c2, nullptr);
  for (int i = 0; i < c2->damage_size(); ++i) {
    if (c2->damage_removed(i) <= 48) EXPECT_NEAR(c2->damage(i), 0.0, 1e-5);
  }
  for (const auto& l : r.layers()) {
    if (l.name() != "c2" && l.skip_reason().empty()) {
      EXPECT_LE(l.ratio(), c2->ratio()) << RenderPruningReport(r);
    }
  }
  EXPECT_GE(c2->channels_before() - c2->channels_after(), 16)
      << RenderPruningReport(r);
}

TEST(BudgetedPolicyTest, WeightsTargetCountsConvAndLinearWeights) {
  testing::TestModel m = testing::MakeWideVggNet(5);
  auto source = InMemoryBatchSource::Random({32, 3, 32, 32}, 16, 5);
  PruningOptions o = Budgeted(0.0);  // no MAC target
  o.policy.target_params_reduction = 0.6;
  auto result = PruneModule(m.module, m.input_shape, o, &source);
  ASSERT_TRUE(result.ok()) << result.status();
  const double kept = static_cast<double>(Weights(result->module)) /
                      static_cast<double>(Weights(m.module));
  EXPECT_LE(kept, 0.4);
  EXPECT_GT(kept, 0.3);
}

// Both targets given: both hold, and the binding one decides. On this VGG
// the weights sit in the late, narrow-input layers and the MACs in the
// early ones, so a MAC target alone leaves weights behind and vice versa.
TEST(BudgetedPolicyTest, MacAndWeightsTargetsTogetherAreBothMet) {
  testing::TestModel m = testing::MakeWideVggNet(5);
  auto source = InMemoryBatchSource::Random({32, 3, 32, 32}, 16, 5);
  // Running statistics: on this random model their damage curves make each
  // target alone leave the other short, which is what the test needs.
  PruningOptions macs = Budgeted(0.5);
  macs.policy.sensitivity_batch_statistics = false;
  PruningOptions weights = macs;
  weights.policy.target_flops_reduction = 0.0;
  weights.policy.target_params_reduction = 0.5;
  PruningOptions both = macs;
  both.policy.target_params_reduction = 0.5;
  auto a = PruneModule(m.module, m.input_shape, macs, &source);
  auto b = PruneModule(m.module, m.input_shape, weights, &source);
  auto c = PruneModule(m.module, m.input_shape, both, &source);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(c.ok()) << c.status();
  auto kept_weights = [&](const torch::jit::Module& pruned) {
    return static_cast<double>(Weights(pruned)) /
           static_cast<double>(Weights(m.module));
  };
  EXPECT_GE(MacReduction(c->report), 0.5);
  EXPECT_LE(kept_weights(c->module), 0.5);
  // Each target alone leaves the other short here, so both bind.
  EXPECT_GT(kept_weights(a->module), 0.5);
  EXPECT_LT(MacReduction(b->report), 0.5);

  PruningOptions neither = Budgeted(0.0);
  EXPECT_EQ(
      PruneModule(m.module, m.input_shape, neither, &source).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(BudgetedPolicyTest, StagesMeasureAgainAndStillMeetTheTarget) {
  testing::TestModel m = testing::MakeWideVggNet(6);
  auto source = InMemoryBatchSource::Random({32, 3, 32, 32}, 16, 6);
  PruningOptions one = Budgeted(0.5);
  PruningOptions three = one;
  three.policy.sensitivity_stages = 3;
  auto a = PruneModule(m.module, m.input_shape, one, &source);
  auto b = PruneModule(m.module, m.input_shape, three, &source);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_GE(MacReduction(b->report), 0.5);
  EXPECT_GT(b->report.sensitivity_evaluations(),
            a->report.sensitivity_evaluations());
  // The reported curves are the last stage's: they start where the earlier
  // stages left each layer.
  bool later_start = false;
  for (const auto& l : b->report.layers()) {
    if (l.damage_removed_size() > 0 && l.damage_removed(0) > 0) {
      later_start = true;
    }
  }
  EXPECT_TRUE(later_start) << RenderPruningReport(b->report);
}

// Damage at `removed` channels on the layer's reported curve; -1 when the
// ladder has no such point.
double DamageAt(const v1::LayerPruningReport& l, int64_t removed) {
  for (int i = 0; i < l.damage_removed_size(); ++i) {
    if (l.damage_removed(i) == removed) return l.damage(i);
  }
  return -1.0;
}

// Budgeted(target) on `m`, its damage measured with batch statistics
// (first) and with the running statistics (second).
struct BothMeasurements {
  absl::StatusOr<PruningResult> batch;
  absl::StatusOr<PruningResult> running;
};
BothMeasurements PruneBothWays(const testing::TestModel& m, double target,
                               InMemoryBatchSource& source) {
  PruningOptions batch = Budgeted(target);
  batch.policy.sensitivity_batch_statistics = true;
  PruningOptions running = Budgeted(target);
  running.policy.sensitivity_batch_statistics = false;
  return {PruneModule(m.module, m.input_shape, batch, &source),
          PruneModule(m.module, m.input_shape, running, &source)};
}

TEST(BudgetedPolicyTest, BatchStatisticsLeaveBuffersAndFlagsAsTheyWere) {
  testing::TestModel m = testing::MakeWideVggNet(3);
  m.module.train(true);
  m.module.attr("bn2").toModule().train(false);  // a mixed state
  std::vector<torch::Tensor> buffers;
  for (const auto& b : m.module.named_buffers(true)) {
    buffers.push_back(b.value.clone());
  }
  std::vector<bool> flags;
  for (const auto& sub : m.module.named_modules()) {
    flags.push_back(sub.value.is_training());
  }
  auto source = InMemoryBatchSource::Random({32, 3, 32, 32}, 16, 1);
  auto [batch, running] = PruneBothWays(m, 0.3, source);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_GE(MacReduction(batch->report), 0.3);
  // The test model's running statistics are random, so normalising by the
  // batch's own gives another base loss.
  EXPECT_GT(std::abs(batch->report.base_loss() - running->report.base_loss()),
            1e-3);
  size_t i = 0;
  for (const auto& b : m.module.named_buffers(true)) {
    EXPECT_TRUE(torch::equal(b.value, buffers[i++])) << b.name;
  }
  i = 0;
  for (const auto& sub : m.module.named_modules()) {
    EXPECT_EQ(sub.value.is_training(), flags[i++]) << sub.name;
  }
}

// bn2's first 48 channels put out a constant (gamma 0, beta 3), c3 reads
// them through its kernels' centre taps only (so the zero padding does not
// matter), and every BatchNorm's running statistics are those of the
// calibration images. Taking the constant channels out shifts c3's output
// by a constant per channel: bn3's running mean no longer fits and turns
// the shift into damage, while batch statistics subtract it exactly.
TEST(BudgetedPolicyTest, BatchStatisticsForgiveAShiftTheNextNormAbsorbs) {
  testing::TestModel m = testing::MakeWideVggNet(4);
  std::vector<int64_t> constant(48);
  for (int64_t i = 0; i < 48; ++i) constant[i] = i;
  testing::ZeroBatchNormChannels(m.module, {"bn2"}, constant);
  torch::manual_seed(4);
  const torch::Tensor images = torch::randn({32, 3, 32, 32});
  {
    torch::NoGradGuard no_grad;
    m.module.attr("bn2")
        .toModule()
        .attr("bias")
        .toTensor()
        .narrow(0, 0, 48)
        .fill_(3.0);
    torch::Tensor taps =
        m.module.attr("c3").toModule().attr("weight").toTensor().narrow(1, 0,
                                                                        48);
    const torch::Tensor centre = taps.select(2, 1).select(2, 1).clone();
    taps.zero_();
    taps.select(2, 1).select(2, 1).copy_(centre);
    // Momentum 0.1: after 100 passes the running statistics are the
    // images' own to 3e-5.
    m.module.train(true);
    for (int i = 0; i < 100; ++i) m.module.forward({images});
    m.module.train(false);
  }
  InMemoryBatchSource source(images, torch::zeros({32}, torch::kLong), 10, 32);
  auto [batch, running] = PruneBothWays(m, 0.25, source);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_TRUE(running.ok()) << running.status();
  // With fitted running statistics both measurements start from one loss.
  EXPECT_NEAR(batch->report.base_loss(), running->report.base_loss(), 1e-3);
  const auto* with_batch = Layer(batch->report, "c2");
  const auto* with_running = Layer(running->report, "c2");
  ASSERT_NE(with_batch, nullptr);
  ASSERT_NE(with_running, nullptr);
  // 44 is the ladder's last point below 48 (64 * 7 / 10).
  const double stale = DamageAt(*with_running, 44);
  const double fresh = DamageAt(*with_batch, 44);
  EXPECT_GT(std::abs(stale), 0.05) << RenderPruningReport(running->report);
  EXPECT_LT(std::abs(fresh), 1e-3) << RenderPruningReport(batch->report)
                                   << RenderPruningReport(running->report);
}

// Divergence from the unpruned outputs: zero at no removal, never
// negative, and on this model a different measure from the labels' loss
// (random labels, so their loss moves either way).
TEST(BudgetedPolicyTest, OutputDivergenceIsAnotherNonNegativeMeasure) {
  testing::TestModel m = testing::MakeWideVggNet(7);
  auto source = InMemoryBatchSource::Random({32, 3, 32, 32}, 16, 7);
  PruningOptions loss = Budgeted(0.4);
  PruningOptions divergence = loss;
  divergence.policy.sensitivity_output_divergence = true;
  auto a = PruneModule(m.module, m.input_shape, loss, &source);
  auto b = PruneModule(m.module, m.input_shape, divergence, &source);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_GE(MacReduction(b->report), 0.4);
  // The base loss reported is the labels' cross-entropy either way.
  EXPECT_NEAR(a->report.base_loss(), b->report.base_loss(), 1e-6);
  bool differs = false;
  for (const std::string name : {"c1", "c2", "c3", "c4"}) {
    const auto* la = Layer(a->report, name);
    const auto* lb = Layer(b->report, name);
    ASSERT_NE(la, nullptr) << name;
    ASSERT_NE(lb, nullptr) << name;
    ASSERT_EQ(la->damage_size(), lb->damage_size()) << name;
    EXPECT_EQ(lb->damage(0), 0.0) << name;
    for (int i = 1; i < lb->damage_size(); ++i) {
      EXPECT_GE(lb->damage(i), -1e-6) << name << " step " << i;
      differs = differs || std::abs(lb->damage(i) - la->damage(i)) > 1e-4;
    }
  }
  EXPECT_TRUE(differs) << RenderPruningReport(b->report);
}

TEST(BudgetedPolicyTest, MaxGroupRatioCapsEveryGroup) {
  testing::TestModel m = testing::MakeWideVggNet(8);
  auto source = InMemoryBatchSource::Random({32, 3, 32, 32}, 16, 8);
  PruningOptions o = Budgeted(0.5);
  o.policy.max_group_ratio = 0.6;
  auto r = PruneModule(m.module, m.input_shape, o, &source);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GE(MacReduction(r->report), 0.5);
  for (const auto& l : r->report.layers()) {
    if (l.channels_before() == 0) continue;
    EXPECT_GE(l.channels_after(), l.channels_before() * 4 / 10) << l.name();
  }
  // Nothing can reach 70 % of the MACs when no group may lose more than
  // 30 % of its channels.
  o.policy.target_flops_reduction = 0.7;
  o.policy.max_group_ratio = 0.3;
  EXPECT_EQ(PruneModule(m.module, m.input_shape, o, &source).status().code(),
            absl::StatusCode::kOutOfRange);
  o.policy.max_group_ratio = std::nan("");
  auto nan = PruneModule(m.module, m.input_shape, o, &source);
  EXPECT_EQ(nan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(nan.status().message(), ::testing::HasSubstr("max_group_ratio"));
}

// Bad options are refused before the engine reads a calibration batch:
// the measurement they would have wasted is the policy's largest cost.
TEST(BudgetedPolicyTest, BadOptionsAreRefusedBeforeAnyMeasurement) {
  testing::TestModel m = testing::MakeWideVggNet(8);
  struct Case {
    const char* field;
    void (*spoil)(PolicyOptions&);
  };
  const Case cases[] = {
      {"max_group_ratio", [](PolicyOptions& p) { p.max_group_ratio = 0; }},
      {"target_params_reduction",
       [](PolicyOptions& p) { p.target_params_reduction = 1.0; }},
      {"at least one of them above 0",
       [](PolicyOptions& p) { p.target_flops_reduction = 0; }},
      {"target_latency_reduction",
       [](PolicyOptions& p) { p.target_latency_reduction = -0.1; }},
      {"round_to", [](PolicyOptions& p) { p.round_to = 0; }},
  };
  for (const Case& c : cases) {
    auto source = InMemoryBatchSource::Random({32, 3, 32, 32}, 16, 8);
    PruningOptions o = Budgeted(0.5);
    c.spoil(o.policy);
    auto r = PruneModule(m.module, m.input_shape, o, &source);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(r.status().message(), ::testing::HasSubstr(c.field));
    EXPECT_EQ(source.batches_served(), 0) << c.field;
  }
}

TEST(BudgetedPolicyTest, RefusesWithoutCalibrationAndOutOfReachTargets) {
  testing::TestModel m = testing::MakeWideVggNet(7);
  auto none = PruneModule(m.module, m.input_shape, Budgeted(0.4), nullptr);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
  auto source = InMemoryBatchSource::Random({16, 3, 32, 32}, 16, 7);
  PruningOptions o = Budgeted(0.4);
  o.policy.min_channels = 60;  // every layer keeps almost all its channels
  auto far = PruneModule(m.module, m.input_shape, o, &source);
  EXPECT_EQ(far.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(far.status().message()),
              ::testing::HasSubstr("budgeted: at most"));
}

// Group c1's scores are 100 times c2's. One raw global threshold takes
// c2 down to min_channels before touching c1; normalised per group (by the
// mean, or LAMP's tail sums), both groups lose channels.
TEST(GlobalPoliciesTest, NormalisationComparesGroupsOfDifferentScales) {
  testing::TestModel m = testing::MakeWideVggNet(8);
  auto graph = ChannelDependencyGraph::Build(m.module, m.input_shape);
  ASSERT_TRUE(graph.ok()) << graph.status();
  const auto& groups = (*graph)->groups();
  std::vector<std::vector<double>> scores(groups.size());
  int c1 = -1, c2 = -1;
  for (const ChannelGroup& g : groups) {
    if (g.name == "c1") c1 = g.id;
    if (g.name == "c2") c2 = g.id;
  }
  ASSERT_GE(c1, 0);
  ASSERT_GE(c2, 0);
  for (int g : {c1, c2}) {
    scores[g].resize(groups[g].channels.size());
    for (size_t i = 0; i < scores[g].size(); ++i) {
      scores[g][i] = (g == c1 ? 100.0 : 1.0) * (1.0 + i);
    }
  }
  const std::vector<std::string> errors(groups.size());
  auto removed = [&](const PruningPlan& p, int g) {
    return std::count(p.groups[g].keep.begin(), p.groups[g].keep.end(), false);
  };
  PolicyOptions raw;
  raw.kind = PolicyKind::kGlobalThreshold;
  raw.ratio = 0.3;
  auto plain = PlanPruning(**graph, scores, errors, nullptr, raw);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(removed(*plain, c1), 0);
  for (PolicyKind kind : {PolicyKind::kGlobalNormalized, PolicyKind::kLamp}) {
    PolicyOptions o;
    o.kind = kind;
    o.target_flops_reduction = 0.2;
    o.flops_tolerance = 0.05;
    auto plan = PlanPruning(**graph, scores, errors, nullptr, o);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_GT(removed(*plan, c1), 0) << PolicyKindName(kind);
    EXPECT_GT(removed(*plan, c2), 0) << PolicyKindName(kind);
    EXPECT_GT(plan->ratio_scale, 0.0);
    EXPECT_LT(plan->ratio_scale, 1.0);
  }
}

}  // namespace
}  // namespace pruneserve::pruning
