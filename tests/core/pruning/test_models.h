// Small CNNs covering the architectures the pruning engine must handle:
// plain VGG-style, basic-block and bottleneck ResNets, MobileNetV2-style
// inverted residuals (depthwise convs), concatenation, and a model with an
// op the channel analysis does not support. Built in C++ with submodules so
// the tests never depend on Python or on the model zoo.
#ifndef PRUNESERVE_TESTS_CORE_PRUNING_TEST_MODELS_H_
#define PRUNESERVE_TESTS_CORE_PRUNING_TEST_MODELS_H_

#include <torch/script.h>

#include <functional>
#include <string>
#include <vector>

#include "core/pruning/channel_dependency_graph.h"

namespace pruneserve::pruning::testing {

struct TestModel {
  std::string name;
  torch::jit::Module module;
  std::vector<int64_t> input_shape;
  int64_t num_classes = 10;
  // Every conv/linear submodule path with its output H*W (1 for linear),
  // known by construction; used for an independent MAC count.
  std::vector<std::pair<std::string, int64_t>> layer_hw;
};

// MACs of `model` at its input shape computed from the current weight shapes
// and the construction-time spatial sizes: N * Cout * Cin/groups * kh * kw *
// Hout * Wout per conv, N * out * in per linear.
int64_t IndependentMacs(const TestModel& model);

// All models, freshly built for `seed`, in eval mode.
std::vector<TestModel> AllTestModels(int seed = 0);

TestModel MakeVggNet(int seed = 0);
// 32..64 channels at 32x32 input: fine FLOPs granularity.
TestModel MakeWideVggNet(int seed = 0);
TestModel MakeBasicResNet(int seed = 0);
TestModel MakeBottleneckResNet(int seed = 0);
// depthwise `groups` read from an attribute, or written as a literal constant
// in the forward code (which forces a graph rewrite).
TestModel MakeMobileNetV2(int seed = 0, bool groups_as_constant = false);
TestModel MakeCatNet(int seed = 0);
// One branch goes through torch.flip over channels (unsupported).
TestModel MakeUnsupportedBranchNet(int seed = 0);

// Zeroes gamma and beta of `channels` in every BatchNorm submodule named in
// `bns` (module paths).
void ZeroBatchNormChannels(torch::jit::Module& module,
                           const std::vector<std::string>& bns,
                           const std::vector<int64_t>& channels);

// The group whose producers include the layer named `producer`, or nullptr.
const ChannelGroup* GroupOf(const ChannelDependencyGraph& g,
                            const std::string& producer);

}  // namespace pruneserve::pruning::testing

#endif  // PRUNESERVE_TESTS_CORE_PRUNING_TEST_MODELS_H_
