// The engine on the model zoo's real architectures: every group except the
// classifier output is understood, and pruning keeps the model runnable.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/models/model_zoo.h"
#include "core/pruning/channel_dependency_graph.h"
#include "core/pruning/pruning_engine.h"

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

}  // namespace
}  // namespace pruneserve::pruning
