// The engine on the model zoo's real architectures: every group except the
// classifier output is understood, and pruning keeps the model runnable.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/models/model_zoo.h"
#include "core/pruning/channel_dependency_graph.h"
#include "core/pruning/flops_counter.h"
#include "core/pruning/pruning_engine.h"
#include "tests/testing/in_memory_batch_source.h"

namespace pruneserve::pruning {
namespace {

TEST(ZooPruningTest, ZooModelsAnalyseAndPrune) {
  for (const auto& [arch, width] :
       std::vector<std::pair<std::string, double>>{{"resnet20", 0.5},
                                                   {"resnet50", 0.25},
                                                   {"mobilenet_v2", 0.5},
                                                   {"vgg11_bn", 0.25}}) {
    SCOPED_TRACE(arch);
    models::ZooOptions zoo;
    zoo.arch = arch;
    zoo.width_multiplier = width;
    auto model = models::BuildZooModel(zoo);
    ASSERT_TRUE(model.ok()) << model.status();
    model->eval();
    const std::vector<int64_t> shape = {2, 3, 32, 32};
    auto analysis = ChannelDependencyGraph::Build(*model, shape);
    ASSERT_TRUE(analysis.ok()) << analysis.status();
    int frozen = 0;
    for (const auto& g : (*analysis)->groups()) {
      if (!g.prunable) {
        ++frozen;
        EXPECT_EQ(g.frozen_reason, "model output") << g.name;
      }
    }
    EXPECT_EQ(frozen, 1) << (*analysis)->Describe();
    PruningOptions options;
    options.policy.kind = PolicyKind::kUniform;
    options.policy.ratio = 0.5;
    auto result = PruneModule(*model, shape, options);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_LT(result->report.flops_after(), result->report.flops_before());
    torch::NoGradGuard no_grad;
    auto out = result->module.forward({torch::randn(shape)}).toTensor();
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 10}));
  }
}

// Every architecture of the zoo under every policy, on Fashion-MNIST-shaped
// input: the pruned module runs, keeps its output shape, has fewer
// parameters and MACs, and the report's totals equal a fresh count of the
// pruned module.
TEST(ZooPruningTest, EveryZooModelUnderEveryPolicy) {
  const std::vector<int64_t> shape = {1, 1, 28, 28};
  const std::vector<PolicyKind> policies = {
      PolicyKind::kRefined, PolicyKind::kUniform, PolicyKind::kGlobalThreshold,
      PolicyKind::kThreshold, PolicyKind::kTargetFlops};
  for (const std::string& arch : models::ZooModelNames()) {
    models::ZooOptions zoo;
    zoo.arch = arch;
    zoo.in_channels = 1;
    zoo.input_size = 28;
    zoo.width_multiplier = 0.25;
    zoo.seed = 3;
    auto model = models::BuildZooModel(zoo);
    ASSERT_TRUE(model.ok()) << arch << ": " << model.status();
    // Distinct BN scales, as a trained model has; a fresh model's are all 1.
    torch::manual_seed(11);
    for (const auto& p : model->named_parameters()) {
      const std::string& name = p.name;
      if (p.value.dim() == 1 && name.size() > 6 &&
          name.compare(name.size() - 6, 6, "weight") == 0) {
        torch::NoGradGuard no_grad;
        p.value.uniform_(0.05, 1.0);
      }
    }
    model->eval();
    for (PolicyKind kind : policies) {
      SCOPED_TRACE(arch + " / " + PolicyKindName(kind));
      PruningOptions options;
      options.policy.kind = kind;
      options.policy.ratio = 0.3;
      options.policy.threshold = 0.3;
      options.policy.target_flops_reduction = 0.3;
      options.policy.flops_tolerance = 0.05;
      options.probe.max_examples = 8;
      auto calibration =
          testing::InMemoryBatchSource::Random({8, 1, 28, 28}, 8);
      auto result = PruneModule(*model, shape, options, &calibration);
      ASSERT_TRUE(result.ok()) << result.status();
      const auto& r = result->report;
      EXPECT_LT(r.params_after(), r.params_before());
      EXPECT_LT(r.flops_after(), r.flops_before());
      torch::NoGradGuard no_grad;
      auto out =
          result->module.forward({torch::randn({2, 1, 28, 28})}).toTensor();
      EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 10}));
      auto recount = CountModelCost(result->module, shape);
      ASSERT_TRUE(recount.ok()) << recount.status();
      EXPECT_EQ(recount->total_macs, r.flops_after());
      EXPECT_EQ(recount->total_params, r.params_after());
    }
  }
}

}  // namespace
}  // namespace pruneserve::pruning
