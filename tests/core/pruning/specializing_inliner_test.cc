// The specialising inliner copies only the code a module instance runs in
// eval mode, numbers each copy by its place in the plain inlined graph
// (checked against both other walks of that graph: SourceNode, which
// inlines everything, and Origins, which walks the methods' code), and
// declines what it cannot specialise, which InlinedForward then handles on
// its general path.
#include "core/pruning/specializing_inliner.h"

#include <gtest/gtest.h>
#include <torch/script.h>

#include <string>
#include <vector>

#include "core/pruning/inlined_forward.h"

namespace pruneserve::pruning::internal {
namespace {

namespace jit = torch::jit;

jit::Module NewModule(const std::string& name, bool training = false) {
  jit::Module m(c10::QualifiedName("__torch__.inliner_test." + name),
                std::make_shared<jit::CompilationUnit>(),
                /*shouldMangle=*/true);
  m.register_attribute("training", c10::BoolType::get(), training);
  return m;
}

// A 4 -> 4 conv whose code branches on its attributes and raises on a
// wrong rank, the shape of torchvision's blocks.
jit::Module Block(bool residual, const std::string& mode) {
  jit::Module m = NewModule("Block", /*training=*/true);
  m.register_parameter("weight", torch::randn({4, 4, 3, 3}), false);
  m.register_attribute("residual", c10::BoolType::get(), residual);
  m.register_attribute("mode", c10::StringType::get(), mode);
  m.define(
      "def conv(self, x):\n"
      "    if self.mode != 'zeros':\n"
      "        x = torch.constant_pad_nd(x, [1, 1, 1, 1], 0.5)\n"
      "        return torch.conv2d(x, self.weight)\n"
      "    return torch.conv2d(x, self.weight, None, [1, 1], [1, 1])\n"
      "def forward(self, x):\n"
      "    assert x.dim() == 4, 'expected a 4-D input'\n"
      "    y = self.conv(x)\n"
      "    if self.training:\n"
      "        y = y * 2.0\n"
      "    if self.residual:\n"
      "        y = y + x\n"
      "    return torch.relu(y)\n");
  return m;
}

jit::Module TwoBlocks() {
  torch::manual_seed(5);
  jit::Module net = NewModule("TwoBlocks");
  net.register_module("a", Block(/*residual=*/true, "zeros"));
  net.register_module("b", Block(/*residual=*/false, "reflect"));
  net.define(
      "def forward(self, x):\n"
      "    y = self.b.forward(self.a.forward(x))\n"
      "    if bool(y.sum() > 0.0):\n"
      "        y = torch.sigmoid(y)\n"
      "    else:\n"
      "        y = torch.tanh(y)\n"
      "    return y\n");
  return net;
}

jit::GraphFunction& Forward(const jit::Module& m) {
  return *jit::tryToGraphFunction(m.get_method("forward").function());
}

std::vector<const jit::Node*> Preorder(const jit::Block* block) {
  std::vector<const jit::Node*> out;
  for (const jit::Node* n : block->nodes()) {
    out.push_back(n);
    for (const jit::Block* sub : n->blocks()) {
      for (const jit::Node* inner : Preorder(sub)) out.push_back(inner);
    }
  }
  return out;
}

int Count(const std::vector<const jit::Node*>& nodes, c10::Symbol kind) {
  int n = 0;
  for (const jit::Node* node : nodes) n += node->kind() == kind;
  return n;
}

TEST(SpecializingInlinerTest, CopiesOnlyWhatTheInstanceRunsInEvalMode) {
  jit::Module net = TwoBlocks();
  auto fast = InlineSpecialized(net, Forward(net));
  ASSERT_NE(fast, nullptr);
  const auto nodes = Preorder(fast->graph->block());
  EXPECT_EQ(Count(nodes, c10::prim::CallMethod), 0);
  EXPECT_EQ(Count(nodes, c10::prim::RaiseException), 0);
  // Only the data-dependent branch stays.
  EXPECT_EQ(Count(nodes, c10::prim::If), 1);
  // Block a (mode 'zeros') convolves once unpadded, block b pads first.
  EXPECT_EQ(Count(nodes, c10::aten::conv2d), 2);
  EXPECT_EQ(Count(nodes, c10::aten::constant_pad_nd), 1) << *fast->graph;
  // Training code is gone although the blocks are in training mode; only
  // block a adds its input.
  EXPECT_EQ(Count(nodes, c10::aten::mul), 0);
  EXPECT_EQ(Count(nodes, c10::aten::add), 1);
  // Every copied node has a place in the plain inlined graph, which is
  // larger: it also holds the branches not taken.
  size_t numbered = 0;
  for (const jit::Node* n : nodes) numbered += fast->source_position.count(n);
  EXPECT_GT(numbered, 0u);
  EXPECT_GT(fast->source_count, numbered);
}

TEST(SpecializingInlinerTest, PositionsAgreeWithTheInlinedGraphAndTheCode) {
  jit::Module net = TwoBlocks();
  auto forward = InlinedForward::Create(net);
  ASSERT_TRUE(forward.ok()) << forward.status();
  const auto nodes = Preorder((*forward)->graph()->block());
  std::vector<const jit::Node*> numbered;
  for (const jit::Node* n : nodes) {
    if ((*forward)->HasSource(n)) numbered.push_back(n);
  }
  ASSERT_GT(numbered.size(), 5u);
  // SourceNode inlines everything again; Origins walks the methods.
  const auto origins = (*forward)->Origins(numbered);
  for (size_t i = 0; i < numbered.size(); ++i) {
    const jit::Node* source = (*forward)->SourceNode(numbered[i]);
    ASSERT_NE(source, nullptr);
    EXPECT_EQ(source->kind(), numbered[i]->kind()) << *numbered[i];
    ASSERT_TRUE(origins[i].has_value());
    EXPECT_EQ(origins[i]->node->kind(), numbered[i]->kind()) << *numbered[i];
  }
  // The specialised program computes what the model computes in eval mode.
  net.eval();
  torch::Tensor x = torch::randn({1, 4, 6, 6});
  torch::Tensor expected = net.forward({x}).toTensor();
  auto tap = (*forward)->Tap({(*forward)->graph()->outputs()[0]});
  ASSERT_TRUE(tap.ok()) << tap.status();
  auto got = (*tap)->Run(x);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(torch::allclose((*got)[0], expected));
}

TEST(SpecializingInlinerTest, DeclinesLiveLoopsAndTheGeneralPathUnrollsThem) {
  jit::Module net = NewModule("Loop");
  net.define(
      "def forward(self, x):\n"
      "    for i in range(3):\n"
      "        x = torch.relu(x) + 1.0\n"
      "    return x\n");
  EXPECT_EQ(InlineSpecialized(net, Forward(net)), nullptr);
  auto forward = InlinedForward::Create(net);
  ASSERT_TRUE(forward.ok()) << forward.status();
  const auto nodes = Preorder((*forward)->graph()->block());
  EXPECT_EQ(Count(nodes, c10::prim::Loop), 0);
  EXPECT_EQ(Count(nodes, c10::aten::relu), 3);
}

TEST(SpecializingInlinerTest, DeclinesWrittenAttributes) {
  jit::Module net = NewModule("Counter");
  net.register_attribute("calls", c10::IntType::get(), int64_t{0});
  net.define(
      "def forward(self, x):\n"
      "    self.calls = self.calls + 1\n"
      "    return x * self.calls\n");
  EXPECT_EQ(InlineSpecialized(net, Forward(net)), nullptr);
  // The general path keeps the written attribute a read.
  auto forward = InlinedForward::Create(net);
  ASSERT_TRUE(forward.ok()) << forward.status();
  const auto nodes = Preorder((*forward)->graph()->block());
  EXPECT_EQ(Count(nodes, c10::prim::GetAttr), 2);
}

TEST(SpecializingInlinerTest, IgnoresLoopsInBranchesItDoesNotTake) {
  jit::Module net = NewModule("TrainingLoop", /*training=*/true);
  net.define(
      "def forward(self, x):\n"
      "    if self.training:\n"
      "        for i in range(2):\n"
      "            x = x + 1.0\n"
      "    return torch.relu(x)\n");
  auto fast = InlineSpecialized(net, Forward(net));
  ASSERT_NE(fast, nullptr);
  const auto nodes = Preorder(fast->graph->block());
  EXPECT_EQ(Count(nodes, c10::prim::Loop), 0);
  EXPECT_EQ(Count(nodes, c10::aten::relu), 1);
}

}  // namespace
}  // namespace pruneserve::pruning::internal
