// Channel counts written as literals in a submodule's code (a depthwise
// conv's `groups`): the surgery edits them in the method that holds them,
// so the model keeps its calls and each submodule still runs on its own;
// when two submodules share that code but need different counts it falls
// back to an inlined forward. Either way removal equals masking.
#include "core/pruning/module_surgery.h"

#include <gtest/gtest.h>
#include <torch/script.h>

#include <string>
#include <vector>

#include "core/pruning/channel_dependency_graph.h"
#include "tests/core/pruning/test_models.h"

namespace pruneserve::pruning {
namespace {

namespace jit = torch::jit;
using testing::GroupOf;

jit::Module NewModule(const std::string& name) {
  jit::Module m(c10::QualifiedName("__torch__.surgery_test." + name),
                std::make_shared<jit::CompilationUnit>(),
                /*shouldMangle=*/true);
  m.register_attribute("training", c10::BoolType::get(), false);
  return m;
}

// 3 -> 8 pointwise conv with bias.
jit::Module Pointwise() {
  jit::Module m = NewModule("Pointwise");
  m.register_parameter("weight", torch::randn({8, 3, 1, 1}), false);
  m.register_parameter("bias", torch::randn({8}), false);
  m.define(
      "def forward(self, x):\n"
      "    return torch.conv2d(x, self.weight, self.bias)\n");
  return m;
}

// 8-channel depthwise 3x3 conv whose `groups` is a literal of its code.
jit::Module Depthwise() {
  jit::Module m = NewModule("Depthwise");
  m.register_parameter("weight", torch::randn({8, 1, 3, 3}), false);
  m.define(
      "def forward(self, x):\n"
      "    return torch.conv2d(x, self.weight, None, [1, 1], [1, 1], [1, 1], "
      "8)\n");
  return m;
}

// Two pointwise -> depthwise branches, concatenated, pooled, classified.
// With `shared`, both depthwise submodules have one class type (and code);
// with `spare`, a third instance of it that forward never calls is kept.
jit::Module TwoBranchNet(bool shared, bool spare) {
  torch::manual_seed(3);
  jit::Module net = NewModule("TwoBranchNet");
  jit::Module dw = Depthwise();
  net.register_module("p1", Pointwise());
  net.register_module("p2", Pointwise());
  net.register_module("dw1", dw);
  net.register_module("dw2", shared ? dw.deepcopy() : Depthwise());
  if (spare) net.register_module("spare", dw.deepcopy());
  net.register_parameter("fc", torch::randn({10, 16}), false);
  net.register_parameter("fcb", torch::randn({10}), false);
  net.define(
      "def forward(self, x):\n"
      "    a = self.dw1.forward(self.p1.forward(x))\n"
      "    b = self.dw2.forward(self.p2.forward(x))\n"
      "    y = torch.cat([a, b], 1)\n"
      "    y = torch.flatten(torch.adaptive_avg_pool2d(y, [1, 1]), 1)\n"
      "    return torch.linear(y, self.fc, self.fcb)\n");
  return net;
}

bool CallsMethods(const jit::Module& m) {
  for (const jit::Node* n : m.get_method("forward").graph()->nodes()) {
    if (n->kind() == c10::prim::CallMethod) return true;
  }
  return false;
}

struct Pruned {
  SurgeryResult result;
  jit::Module model;
  torch::Tensor masked_output;  // the original with the channels zeroed
  torch::Tensor input;
};

// Removes the first `n1` channels of p1 and the first `n2` of p2.
Pruned PruneBranches(bool shared, int64_t n1, int64_t n2, bool spare = false) {
  torch::NoGradGuard no_grad;
  jit::Module original = TwoBranchNet(shared, spare);
  Pruned out;
  out.model = original.clone();
  auto analysis = ChannelDependencyGraph::Build(out.model, {1, 3, 6, 6});
  EXPECT_TRUE(analysis.ok()) << analysis.status();
  KeepMasks keep = KeepAll(**analysis);
  const ChannelGroup* g1 = GroupOf(**analysis, "p1");
  const ChannelGroup* g2 = GroupOf(**analysis, "p2");
  EXPECT_NE(g1, nullptr);
  EXPECT_NE(g2, nullptr);
  EXPECT_TRUE(g1->prunable && g2->prunable) << (*analysis)->Describe();
  for (int64_t c = 0; c < n1; ++c) keep[g1->id][c] = false;
  for (int64_t c = 0; c < n2; ++c) keep[g2->id][c] = false;
  auto result = ApplyChannelPruning(**analysis, keep);
  EXPECT_TRUE(result.ok()) << result.status();
  out.result = *result;
  // Zeroed pointwise filters give zero channels through the depthwise conv
  // (no bias), which the classifier then ignores: the same function.
  jit::Module masked = original.clone();
  for (const auto& [name, n] :
       std::vector<std::pair<std::string, int64_t>>{{"p1", n1}, {"p2", n2}}) {
    jit::Module p = masked.attr(name).toModule();
    p.attr("weight").toTensor().narrow(0, 0, n).zero_();
    p.attr("bias").toTensor().narrow(0, 0, n).zero_();
  }
  out.input = torch::randn({2, 3, 6, 6});
  out.masked_output = masked.forward({out.input}).toTensor();
  return out;
}

// Checks how the constants were rewritten (`in_place` edits in the methods,
// or 0 for the inlined-forward fallback) and that pruned equals masked.
void ExpectRewrite(Pruned& p, int in_place) {
  EXPECT_EQ(p.result.forward_rewritten, in_place == 0);
  EXPECT_EQ(p.result.constants_rewritten, in_place);
  EXPECT_EQ(CallsMethods(p.model), in_place > 0);
  torch::NoGradGuard no_grad;
  torch::Tensor y = p.model.forward({p.input}).toTensor();
  ASSERT_EQ(y.sizes(), p.masked_output.sizes());
  EXPECT_TRUE(torch::allclose(y, p.masked_output, 1e-5, 1e-5))
      << (y - p.masked_output).abs().max().item<float>();
}

TEST(ModuleSurgeryTest, LiteralInASubmoduleIsEditedInItsOwnMethod) {
  Pruned p = PruneBranches(/*shared=*/false, 2, 3);
  ExpectRewrite(p, 2);
  // Each depthwise conv also runs on its own, at its new width.
  torch::NoGradGuard no_grad;
  jit::Module dw1 = p.model.attr("dw1").toModule();
  jit::Module dw2 = p.model.attr("dw2").toModule();
  EXPECT_EQ(dw1.forward({torch::randn({1, 6, 4, 4})}).toTensor().size(1), 6);
  EXPECT_EQ(dw2.forward({torch::randn({1, 5, 4, 4})}).toTensor().size(1), 5);
  // And the model still runs in training mode.
  p.model.train();
  EXPECT_EQ(p.model.forward({p.input}).toTensor().size(1), 10);
}

TEST(ModuleSurgeryTest, SharedCodeWithOneNewCountIsEditedOnce) {
  Pruned p = PruneBranches(/*shared=*/true, 3, 3);
  ExpectRewrite(p, 1);
}

TEST(ModuleSurgeryTest, SharedCodeWithTwoNewCountsFallsBackToInlinedForward) {
  Pruned p = PruneBranches(/*shared=*/true, 2, 3);
  ExpectRewrite(p, 0);
}

TEST(ModuleSurgeryTest, AnInstanceLeftOutKeepsTheSharedCodeUnchanged) {
  // The spare instance keeps 8 channels: its code must keep groups=8.
  Pruned p = PruneBranches(/*shared=*/true, 3, 3, /*spare=*/true);
  ExpectRewrite(p, 0);
  torch::NoGradGuard no_grad;
  jit::Module spare = p.model.attr("spare").toModule();
  EXPECT_EQ(spare.forward({torch::randn({1, 8, 4, 4})}).toTensor().size(1), 8);
}

}  // namespace
}  // namespace pruneserve::pruning
