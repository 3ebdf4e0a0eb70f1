// The budgeted policy's latency target: the MAC-target search on pruned
// copies, with a deterministic meter (latency = weights left) so that the
// search's choices can be checked exactly, and once with the CPU meter for
// the report's fields (timings themselves decide nothing here).
#include "core/pruning/latency_search.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/script.h>

#include "core/pruning/pruning_engine.h"
#include "core/pruning/pruning_report.h"
#include "tests/core/pruning/test_models.h"
#include "tests/testing/in_memory_batch_source.h"

namespace pruneserve::pruning {
namespace {

using pruneserve::testing::InMemoryBatchSource;

int64_t Weights(const torch::jit::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.named_parameters(/*recurse=*/true)) {
    if (p.value.dim() >= 2) n += p.value.numel();
  }
  return n;
}

// "Latency" is the weights left, in thousands: monotone in what is pruned
// and free of noise. Counts its calls.
class WeightsMeter : public LatencyMeter {
 public:
  absl::StatusOr<std::vector<double>> Measure(
      const std::vector<torch::jit::Module*>& modules,
      const std::vector<int64_t>&) override {
    ++calls;
    std::vector<double> ms;
    for (torch::jit::Module* m : modules) ms.push_back(Weights(*m) / 1000.0);
    return ms;
  }
  int calls = 0;
};

PruningOptions LatencyTarget(double target, LatencyMeter* meter) {
  PruningOptions o;
  o.policy.kind = PolicyKind::kBudgeted;
  o.policy.target_flops_reduction = 0.0;
  o.policy.target_latency_reduction = target;
  o.latency_meter = meter;
  return o;
}

TEST(LatencySearchTest, BudgetedFindsTheSmallestMacTargetFastEnough) {
  testing::TestModel m = testing::MakeWideVggNet(2);
  auto source = InMemoryBatchSource::Random({32, 3, 32, 32}, 16, 9);
  WeightsMeter meter;
  auto result =
      PruneModule(m.module, m.input_shape, LatencyTarget(0.4, &meter), &source);
  ASSERT_TRUE(result.ok()) << result.status();
  const v1::PruningReport& r = result->report;
  const double dense = Weights(m.module) / 1000.0;
  const double pruned = Weights(result->module) / 1000.0;
  EXPECT_DOUBLE_EQ(r.latency_dense_ms(), dense);
  // The report's figure is the one of the model handed back.
  EXPECT_DOUBLE_EQ(r.latency_pruned_ms(), pruned);
  EXPECT_LE(pruned, 0.6 * dense) << RenderPruningReport(r);
  // The probe at the top of the range, then 7 bisection steps.
  EXPECT_EQ(r.latency_probes(), 8);
  // Each probe times the dense copy again beside the pruned one.
  EXPECT_EQ(meter.calls, 8);
  EXPECT_GT(r.latency_flops_target(), 0.0);
  EXPECT_LT(r.latency_flops_target(), 0.95);
  EXPECT_THAT(RenderPruningReport(r),
              ::testing::HasSubstr("latency (CPU, fastest pass)"));

  // One bisection step less pruning misses the target: the search did not
  // stop early at a needlessly large MAC target.
  PruningOptions fewer;
  fewer.policy.kind = PolicyKind::kBudgeted;
  fewer.policy.target_flops_reduction =
      r.latency_flops_target() - 0.95 / (1 << 7);
  auto less = PruneModule(m.module, m.input_shape, fewer, &source);
  ASSERT_TRUE(less.ok()) << less.status();
  EXPECT_GT(Weights(less->module) / 1000.0, 0.6 * dense);
}

TEST(LatencySearchTest, MacTargetIsAFloor) {
  testing::TestModel m = testing::MakeWideVggNet(2);
  auto source = InMemoryBatchSource::Random({32, 3, 32, 32}, 16, 9);
  WeightsMeter meter;
  PruningOptions o = LatencyTarget(0.1, &meter);
  o.policy.target_flops_reduction = 0.5;
  auto result = PruneModule(m.module, m.input_shape, o, &source);
  ASSERT_TRUE(result.ok()) << result.status();
  // 50 % of MACs already removes more than 10 % of the weights: the floor
  // is the answer after probing the top and the floor.
  EXPECT_DOUBLE_EQ(result->report.latency_flops_target(), 0.5);
  EXPECT_EQ(result->report.latency_probes(), 2);
  EXPECT_GE(1.0 - static_cast<double>(result->report.flops_after()) /
                      result->report.flops_before(),
            0.5);
}

TEST(LatencySearchTest, UnreachableTargetPrunesToTheTopAndWarns) {
  testing::TestModel m = testing::MakeWideVggNet(2);
  auto source = InMemoryBatchSource::Random({32, 3, 32, 32}, 16, 9);
  WeightsMeter meter;
  auto result = PruneModule(m.module, m.input_shape,
                            LatencyTarget(0.999, &meter), &source);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->report.latency_probes(), 1);
  EXPECT_THAT(
      result->report.warnings(),
      ::testing::Contains(::testing::HasSubstr("latency target not reached")));
}

TEST(LatencySearchTest, MeasuresTheDamageOnceWhateverTheStages) {
  testing::TestModel m = testing::MakeWideVggNet(2);
  auto source = InMemoryBatchSource::Random({32, 3, 32, 32}, 16, 9);
  WeightsMeter meter;
  std::vector<v1::PruningReport> reports;  // with 1, then 3 stages asked for
  for (int stages : {1, 3}) {
    PruningOptions o = LatencyTarget(0.3, &meter);
    o.policy.sensitivity_stages = stages;
    auto r = PruneModule(m.module, m.input_shape, o, &source);
    ASSERT_TRUE(r.ok()) << stages << " stages: " << r.status();
    reports.push_back(r->report);
  }
  EXPECT_GT(reports[1].sensitivity_evaluations(), 0);
  EXPECT_EQ(reports[1].sensitivity_evaluations(),
            reports[0].sensitivity_evaluations());
  EXPECT_EQ(reports[1].latency_flops_target(),
            reports[0].latency_flops_target());
}

TEST(LatencySearchTest, CpuMeterFillsTheReport) {
  testing::TestModel m = testing::MakeWideVggNet(2);
  auto source = InMemoryBatchSource::Random({32, 3, 32, 32}, 16, 9);
  auto result = PruneModule(m.module, m.input_shape,
                            LatencyTarget(0.3, nullptr), &source);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_GT(result->report.latency_dense_ms(), 0.0);
  EXPECT_GT(result->report.latency_pruned_ms(), 0.0);
  EXPECT_GT(result->report.latency_probes(), 0);
}

TEST(LatencySearchTest, TargetOutsideTheOpenUnitIntervalIsRefused) {
  testing::TestModel m = testing::MakeWideVggNet(2);
  WeightsMeter meter;
  LatencySearchOptions options;
  options.target_reduction = 1.0;
  auto search = SearchFlopsForLatency(
      m.module, m.input_shape,
      [](double) -> absl::StatusOr<KeepMasks> { return KeepMasks{}; }, meter,
      options);
  EXPECT_EQ(search.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(meter.calls, 0);
}

}  // namespace
}  // namespace pruneserve::pruning
