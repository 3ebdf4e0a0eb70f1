#include "core/pruning/channel_dependency_graph.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/script.h>

#include "core/pruning/module_surgery.h"
#include "tests/core/pruning/test_models.h"

namespace pruneserve::pruning {
namespace {

using ::testing::HasSubstr;
using testing::TestModel;

const ChannelGroup* FindGroup(const ChannelDependencyGraph& g,
                              const std::string& name) {
  for (const ChannelGroup& group : g.groups()) {
    if (group.name == name) return &group;
  }
  return nullptr;
}

std::unique_ptr<ChannelDependencyGraph> Analyse(const TestModel& m) {
  auto g = ChannelDependencyGraph::Build(m.module, m.input_shape);
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? std::move(*g) : nullptr;
}

TEST(ChannelDependencyGraphTest, VggGroupsFollowConvBnLinear) {
  TestModel m = testing::MakeVggNet();
  auto g = Analyse(m);
  ASSERT_NE(g, nullptr);
  const ChannelGroup* c4 = FindGroup(*g, "c4");
  ASSERT_NE(c4, nullptr) << g->Describe();
  EXPECT_TRUE(c4->prunable);
  EXPECT_EQ(c4->channels.size(), 16u);
  EXPECT_THAT(c4->batch_norms, ::testing::ElementsAre("bn4"));
  EXPECT_THAT(c4->consumers, ::testing::ElementsAre("fc1"));
  // Each channel maps to 2x2 consecutive features of fc1.
  bool found = false;
  for (const TensorSlice& s : c4->channels[3].slices) {
    if (*s.tensor == "fc1.weight") {
      EXPECT_EQ(s.dim, 1);
      EXPECT_EQ(s.index, 12);
      EXPECT_EQ(s.count, 4);
      found = true;
    }
  }
  EXPECT_TRUE(found);
  const ChannelGroup* fc2 = FindGroup(*g, "fc2");
  ASSERT_NE(fc2, nullptr);
  EXPECT_FALSE(fc2->prunable);
  EXPECT_THAT(fc2->frozen_reason, HasSubstr("model output"));
  EXPECT_TRUE(FindGroup(*g, "fc1")->prunable);
  EXPECT_FALSE(g->has_residual());
}

TEST(ChannelDependencyGraphTest, ResidualAddCouplesBranches) {
  TestModel m = testing::MakeBasicResNet();
  auto g = Analyse(m);
  ASSERT_NE(g, nullptr);
  EXPECT_TRUE(g->has_residual());
  const ChannelGroup* stem = FindGroup(*g, "stem");
  ASSERT_NE(stem, nullptr) << g->Describe();
  EXPECT_TRUE(stem->residual);
  EXPECT_THAT(stem->producers, ::testing::ElementsAre("stem", "layer1.conv2"));
  const ChannelGroup* inner = FindGroup(*g, "layer1.conv1");
  ASSERT_NE(inner, nullptr);
  EXPECT_FALSE(inner->residual);
  EXPECT_TRUE(inner->prunable);
  const ChannelGroup* l2 = FindGroup(*g, "layer2.conv2");
  ASSERT_NE(l2, nullptr) << g->Describe();
  EXPECT_THAT(l2->producers,
              ::testing::UnorderedElementsAre("layer2.conv2", "layer2.down"));
}

TEST(ChannelDependencyGraphTest, DepthwiseJoinsExpansionGroup) {
  for (bool constant : {false, true}) {
    TestModel m = testing::MakeMobileNetV2(0, constant);
    auto g = Analyse(m);
    ASSERT_NE(g, nullptr);
    const ChannelGroup* e = FindGroup(*g, "ir1.expand");
    ASSERT_NE(e, nullptr) << g->Describe();
    EXPECT_TRUE(e->prunable) << e->frozen_reason;
    EXPECT_THAT(e->batch_norms, ::testing::ElementsAre("ir1.bn1", "ir1.bn2"));
    EXPECT_THAT(e->consumers, ::testing::ElementsAre("ir1.project"));
    // Specialisation folds an attribute `groups` to a constant too; the
    // surgery then sets the attribute the source code reads.
    ASSERT_EQ(g->count_sites().size(), 2u);
    EXPECT_EQ(g->count_sites()[0].kind, CountSite::Kind::kGraphInput);
  }
}

TEST(ChannelDependencyGraphTest, CatGivesEachInputItsOwnGroup) {
  TestModel m = testing::MakeCatNet();
  auto g = Analyse(m);
  ASSERT_NE(g, nullptr);
  const ChannelGroup* b = FindGroup(*g, "b");
  ASSERT_NE(b, nullptr) << g->Describe();
  ASSERT_EQ(b->channels.size(), 4u);
  bool found = false;
  for (const TensorSlice& s : b->channels[1].slices) {
    if (*s.tensor == "c.weight") {
      EXPECT_EQ(s.dim, 1);
      EXPECT_EQ(s.index, 7);  // after the 6 channels of `a`
      found = true;
    }
  }
  EXPECT_TRUE(found);
  ASSERT_EQ(g->count_sites().size(), 1u);  // view([N, 48])
}

TEST(ChannelDependencyGraphTest, UnsupportedOpFreezesOnlyItsBranch) {
  TestModel m = testing::MakeUnsupportedBranchNet();
  auto g = Analyse(m);
  ASSERT_NE(g, nullptr);
  const ChannelGroup* b = FindGroup(*g, "b");
  ASSERT_NE(b, nullptr) << g->Describe();
  EXPECT_FALSE(b->prunable);
  EXPECT_THAT(b->frozen_reason, HasSubstr("aten::flip"));
  EXPECT_TRUE(FindGroup(*g, "a")->prunable);
  EXPECT_TRUE(FindGroup(*g, "c")->prunable);
  EXPECT_TRUE(FindGroup(*g, "stem")->prunable);
}

TEST(ChannelDependencyGraphTest, RejectsWrongInputShape) {
  TestModel m = testing::MakeVggNet();
  auto g = ChannelDependencyGraph::Build(m.module, {2, 5, 16, 16});
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pruneserve::pruning
