// One small hand-written TorchScript model per dependency rule of the
// channel analysis: grouped convs, chunk + channel shuffle, squeeze-
// excitation gates, dense concatenation over a growing list, channel-last
// LayerNorm + Linear behind permutes, GroupNorm, attribute branches and
// raise paths (specialised away) and data-dependent branches (frozen, with
// the op named). Each checks the groups the analysis finds and, where
// removal is exact, that the pruned model computes what the original
// computes with the removed channels zeroed (relative 1e-5).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/script.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/pruning/channel_dependency_graph.h"
#include "tests/core/pruning/test_models.h"
#include "core/pruning/flops_counter.h"
#include "core/pruning/inlined_forward.h"
#include "core/pruning/module_surgery.h"
#include "core/pruning/pruning_engine.h"

namespace pruneserve::pruning {
namespace {

namespace jit = torch::jit;
using testing::GroupOf;
using ::testing::HasSubstr;

struct Param {
  std::string name;
  std::vector<int64_t> shape;
  // "w": weight (randn scaled), "g": BN/LN gamma (positive), "b": bias,
  // "m": running mean, "v": running var (positive).
  char kind = 'w';
};

// A module with the given parameters (buffers for 'm'/'v') and forward
// source, in eval mode. `bools` become bool attributes.
jit::Module MakeModule(
    const std::vector<Param>& params, const std::string& forward,
    const std::vector<std::pair<std::string, bool>>& bools = {}) {
  static int counter = 0;
  torch::manual_seed(7 + counter);
  auto cu = std::make_shared<jit::CompilationUnit>();
  jit::Module m(
      c10::QualifiedName(absl::StrCat("__torch__.rules.M", counter++)), cu,
      true);
  m.register_attribute("training", c10::BoolType::get(), false);
  for (const auto& [name, value] : bools) {
    m.register_attribute(name, c10::BoolType::get(), value);
  }
  for (const Param& p : params) {
    torch::Tensor t;
    switch (p.kind) {
      case 'g':
        t = torch::rand(p.shape) + 0.5;
        break;
      case 'v':
        t = torch::rand(p.shape) + 0.5;
        break;
      case 'b':
      case 'm':
        t = torch::randn(p.shape) * 0.2;
        break;
      default: {
        int64_t fan_in = 1;
        for (size_t i = 1; i < p.shape.size(); ++i) fan_in *= p.shape[i];
        t = torch::randn(p.shape) / std::sqrt(static_cast<double>(fan_in));
      }
    }
    if (p.kind == 'm' || p.kind == 'v') {
      m.register_buffer(p.name, t);
    } else {
      m.register_parameter(p.name, t, false);
    }
  }
  m.define(forward);
  m.eval();
  return m;
}

// BN parameters g<i>, b<i>, m<i>, v<i> of `c` channels.
std::vector<Param> Bn(int i, int64_t c) {
  return {{absl::StrCat("g", i), {c}, 'g'},
          {absl::StrCat("b", i), {c}, 'b'},
          {absl::StrCat("m", i), {c}, 'm'},
          {absl::StrCat("v", i), {c}, 'v'}};
}

std::vector<Param> Join(std::vector<std::vector<Param>> parts) {
  std::vector<Param> out;
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

torch::Tensor Forward(jit::Module m, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  return m.forward({x}).toTensor();
}

// Removes about a third of the channels of every prunable, non-residual
// group (every third coupled channel) from one copy and zeroes the same
// channels' producing slices in another, then compares the two outputs.
// Returns the number of channels removed.
int64_t ExpectRemovalEqualsMasking(const jit::Module& model,
                                   const std::vector<int64_t>& shape,
                                   bool include_residual = false) {
  torch::NoGradGuard no_grad;
  jit::Module pruned = model.clone();
  jit::Module masked = model.clone();
  auto analysis = ChannelDependencyGraph::Build(pruned, shape);
  EXPECT_TRUE(analysis.ok()) << analysis.status();
  if (!analysis.ok()) return 0;
  KeepMasks keep = KeepAll(**analysis);
  int64_t removed = 0;
  for (const ChannelGroup& g : (*analysis)->groups()) {
    if (!g.prunable || (g.residual && !include_residual) ||
        g.channels.size() < 3) {
      continue;
    }
    for (size_t c = 1; c < g.channels.size(); c += 3) {
      keep[g.id][c] = false;
      ++removed;
      for (const TensorSlice& s : g.channels[c].slices) {
        switch (s.role) {
          case SliceRole::kProducerWeight:
          case SliceRole::kProducerBias:
          case SliceRole::kBatchNormWeight:
          case SliceRole::kBatchNormBias:
          case SliceRole::kDepthwiseWeight:
          case SliceRole::kDepthwiseBias:
          case SliceRole::kChannelScale: {
            auto t = internal::AttrAtPath(masked, *s.tensor)->toTensor();
            t.narrow(s.dim, s.index, s.count).zero_();
            break;
          }
          default:
            break;
        }
      }
    }
  }
  auto result = ApplyChannelPruning(**analysis, keep);
  EXPECT_TRUE(result.ok()) << result.status();
  torch::manual_seed(3);
  torch::Tensor x = torch::randn(shape);
  torch::Tensor a = Forward(masked, x);
  torch::Tensor b = Forward(pruned, x);
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() == b.sizes()) {
    const double scale = a.abs().max().item<double>();
    EXPECT_LE((a - b).abs().max().item<double>(), 1e-5 * scale + 1e-7);
  }
  return removed;
}

// "    <out> = relu(batch_norm(<in>)) with BatchNorm <i>\n" (eval-mode
// statistics unless `training` names the flag to pass).
std::string BnRelu(const std::string& out, const std::string& in, int i,
                   const std::string& training = "False") {
  return absl::StrCat("    ", out, " = torch.relu(torch.batch_norm(", in,
                      ", self.g", i, ", self.b", i, ", self.m", i, ", self.v",
                      i, ", ", training, ", 0.1, 1e-5, False))\n");
}

constexpr char kHead[] =
    "    y = y.mean([2, 3])\n"
    "    return torch.linear(y, self.fc, self.fcb)\n";

TEST(DependencyRulesTest, GroupedConvPrunesTheSamePositionsInEveryGroup) {
  const std::string src = absl::StrCat(
      "def forward(self, x):\n"
      "    y = torch.conv2d(x, self.c1, None, [1, 1], [1, 1])\n",
      BnRelu("y", "y", 1),
      "    y = torch.conv2d(y, self.c2, None, [1, 1], [1, 1], [1, 1], 4)\n",
      BnRelu("y", "y", 2), "    y = torch.conv2d(y, self.c3, None)\n", kHead);
  auto m = MakeModule(
      Join({{{"c1", {16, 3, 3, 3}}},
            Bn(1, 16),
            {{"c2", {24, 4, 3, 3}}},
            Bn(2, 24),
            {{"c3", {6, 24, 1, 1}}, {"fc", {10, 6}}, {"fcb", {10}, 'b'}}}),
      src);
  auto g = ChannelDependencyGraph::Build(m, {1, 3, 8, 8});
  ASSERT_TRUE(g.ok()) << g.status();
  const ChannelGroup* in = GroupOf(**g, "c1");
  const ChannelGroup* out = GroupOf(**g, "c2");
  ASSERT_TRUE(in && out) << (*g)->Describe();
  // 16 inputs in 4 groups: 4 positions, each coupled across the groups.
  EXPECT_EQ(in->channels.size(), 4u);
  EXPECT_EQ(in->channels[0].slices.size(), 4u * 6u);  // 4 x (c1,g,b,m,v,c2)
  EXPECT_TRUE(in->prunable) << in->frozen_reason;
  EXPECT_EQ(out->channels.size(), 6u);
  EXPECT_TRUE(out->prunable) << out->frozen_reason;
  EXPECT_EQ(ExpectRemovalEqualsMasking(m, {1, 3, 8, 8}), 1 + 2 + 2);
}

TEST(DependencyRulesTest, ChunkAndChannelShuffleFollowThePermutation) {
  const std::string src = absl::StrCat(
      "def forward(self, x):\n"
      "    y = torch.conv2d(x, self.c1, None, [1, 1], [1, 1])\n",
      BnRelu("y", "y", 1),
      "    a, b = y.chunk(2, 1)\n"
      "    b = torch.conv2d(b, self.c2, None)\n",
      BnRelu("b", "b", 2),
      "    y = torch.cat([a, b], 1)\n"
      "    n, c, h, w = y.size()\n"
      "    y = y.view(n, 2, c // 2, h, w)\n"
      "    y = torch.transpose(y, 1, 2).contiguous()\n"
      "    y = y.view(n, c, h, w)\n"
      "    y = torch.conv2d(y, self.c3, None)\n",
      kHead);
  auto m = MakeModule(
      Join({{{"c1", {12, 3, 3, 3}}},
            Bn(1, 12),
            {{"c2", {6, 6, 1, 1}}},
            Bn(2, 6),
            {{"c3", {5, 12, 1, 1}}, {"fc", {10, 5}}, {"fcb", {10}, 'b'}}}),
      src);
  auto g = ChannelDependencyGraph::Build(m, {1, 3, 8, 8});
  ASSERT_TRUE(g.ok()) << g.status();
  const ChannelGroup* c1 = GroupOf(**g, "c1");
  ASSERT_NE(c1, nullptr) << (*g)->Describe();
  EXPECT_TRUE(c1->prunable) << c1->frozen_reason;
  // chunk(2) couples position p of both halves; the shuffle then couples
  // c2's output p with the passthrough half's p: one group, 6 channels.
  EXPECT_EQ(c1, GroupOf(**g, "c2"));
  EXPECT_EQ(c1->channels.size(), 6u);
  EXPECT_EQ(ExpectRemovalEqualsMasking(m, {1, 3, 8, 8}), 2 + 2);
}

TEST(DependencyRulesTest, SqueezeExcitationGateCouplesItsOutputToTheInput) {
  const std::string src = absl::StrCat(
      "def forward(self, x):\n"
      "    y = torch.conv2d(x, self.c1, None, [1, 1], [1, 1])\n",
      BnRelu("y", "y", 1),
      "    s = torch.adaptive_avg_pool2d(y, [1, 1])\n"
      "    s = torch.relu(torch.conv2d(s, self.se1, self.se1b))\n"
      "    s = torch.sigmoid(torch.conv2d(s, self.se2, self.se2b))\n"
      "    y = y * s\n"
      "    y = torch.conv2d(y, self.c3, None)\n",
      kHead);
  auto m = MakeModule(Join({{{"c1", {12, 3, 3, 3}}},
                            Bn(1, 12),
                            {{"se1", {6, 12, 1, 1}},
                             {"se1b", {6}, 'b'},
                             {"se2", {12, 6, 1, 1}},
                             {"se2b", {12}, 'b'},
                             {"c3", {5, 12, 1, 1}},
                             {"fc", {10, 5}},
                             {"fcb", {10}, 'b'}}}),
                      src);
  auto g = ChannelDependencyGraph::Build(m, {1, 3, 8, 8});
  ASSERT_TRUE(g.ok()) << g.status();
  const ChannelGroup* c1 = GroupOf(**g, "c1");
  ASSERT_NE(c1, nullptr) << (*g)->Describe();
  EXPECT_THAT(c1->producers, ::testing::UnorderedElementsAre("c1", "se2"));
  EXPECT_FALSE(c1->residual);  // a gate is not a residual stream
  EXPECT_FALSE(g.value()->has_residual());
  const ChannelGroup* reduce = GroupOf(**g, "se1");
  ASSERT_NE(reduce, nullptr);
  EXPECT_NE(reduce, c1);
  EXPECT_TRUE(reduce->prunable) << reduce->frozen_reason;
  EXPECT_EQ(ExpectRemovalEqualsMasking(m, {1, 3, 8, 8}), 4 + 2 + 2);
}

TEST(DependencyRulesTest, DenseConcatenationOverAGrowingList) {
  // DenseNet-style: each layer reads the concatenation of everything before
  // it and appends 4 channels.
  std::string src =
      "def forward(self, x):\n"
      "    y = torch.conv2d(x, self.c0, None, [1, 1], [1, 1])\n"
      "    feats = [y]\n";
  std::vector<std::vector<Param>> params = {{{"c0", {6, 3, 3, 3}}}};
  int64_t width = 6;
  for (int i = 1; i <= 3; ++i) {
    absl::StrAppend(&src, "    z = torch.cat(feats, 1)\n",
                    "    z = torch.relu(torch.batch_norm(z, self.g", i,
                    ", self.b", i, ", self.m", i, ", self.v", i,
                    ", False, 0.1, 1e-5, False))\n",
                    "    feats.append(torch.conv2d(z, self.c", i,
                    ", None, [1, 1], [1, 1]))\n");
    params.push_back(Bn(i, width));
    params.push_back({{absl::StrCat("c", i), {4, width, 3, 3}}});
    width += 4;
  }
  absl::StrAppend(&src,
                  "    y = torch.relu(torch.batch_norm(torch.cat(feats, 1), "
                  "self.g4, self.b4, self.m4, self.v4, False, 0.1, 1e-5, "
                  "False))\n",
                  kHead);
  params.push_back(Bn(4, width));
  params.push_back({{"fc", {10, width}}, {"fcb", {10}, 'b'}});
  auto m = MakeModule(Join(params), src);
  auto g = ChannelDependencyGraph::Build(m, {1, 3, 8, 8});
  ASSERT_TRUE(g.ok()) << g.status();
  for (const char* layer : {"c0", "c1", "c2", "c3"}) {
    const ChannelGroup* grp = GroupOf(**g, layer);
    ASSERT_NE(grp, nullptr) << layer << "\n" << (*g)->Describe();
    EXPECT_TRUE(grp->prunable) << layer << ": " << grp->frozen_reason;
  }
  // c1's channels sit at offset 6 of c2's and c3's inputs and of g4.
  EXPECT_THAT(GroupOf(**g, "c1")->consumers,
              ::testing::UnorderedElementsAre("c2", "c3", "fc"));
  EXPECT_EQ(ExpectRemovalEqualsMasking(m, {1, 3, 8, 8}), 2 + 1 + 1 + 1);
}

TEST(DependencyRulesTest, ChannelLastLayerNormAndLinearBehindPermutes) {
  // A ConvNeXt block: depthwise conv, permute to NHWC, LayerNorm over C,
  // Linear C -> 4C -> C, permute back, layer scale, residual add.
  const std::string src = absl::StrCat(
      "def forward(self, x):\n"
      "    x = torch.conv2d(x, self.stem, self.stemb)\n"
      "    y = torch.conv2d(x, self.dw, self.dwb, [1, 1], [1, 1], [1, 1], 8)\n"
      "    y = y.permute([0, 2, 3, 1])\n"
      "    y = torch.layer_norm(y, [8], self.lnw, self.lnb, 1e-6, False)\n"
      "    y = torch.gelu(torch.linear(y, self.pw1, self.pw1b))\n"
      "    y = torch.linear(y, self.pw2, self.pw2b)\n"
      "    y = y.permute([0, 3, 1, 2])\n"
      "    y = self.scale * y + x\n",
      kHead);
  auto m = MakeModule({{"stem", {8, 3, 1, 1}},
                       {"stemb", {8}, 'b'},
                       {"dw", {8, 1, 3, 3}},
                       {"dwb", {8}, 'b'},
                       {"lnw", {8}, 'g'},
                       {"lnb", {8}, 'b'},
                       {"pw1", {32, 8}},
                       {"pw1b", {32}, 'b'},
                       {"pw2", {8, 32}},
                       {"pw2b", {8}, 'b'},
                       {"scale", {8, 1, 1}, 'g'},
                       {"fc", {10, 8}},
                       {"fcb", {10}, 'b'}},
                      src);
  const std::vector<int64_t> shape = {1, 3, 6, 6};
  auto g = ChannelDependencyGraph::Build(m, shape);
  ASSERT_TRUE(g.ok()) << g.status();
  const ChannelGroup* hidden = GroupOf(**g, "pw1");
  ASSERT_NE(hidden, nullptr) << (*g)->Describe();
  EXPECT_TRUE(hidden->prunable) << hidden->frozen_reason;
  EXPECT_EQ(hidden->channels.size(), 32u);
  const ChannelGroup* stream = GroupOf(**g, "stem");
  ASSERT_NE(stream, nullptr);
  EXPECT_TRUE(stream->prunable) << stream->frozen_reason;
  EXPECT_TRUE(stream->residual);
  EXPECT_THAT(stream->producers,
              ::testing::UnorderedElementsAre("stem", "pw2"));
  // The hidden channels are not normalised: removal is exact.
  EXPECT_EQ(ExpectRemovalEqualsMasking(m, shape), 11);
  // The stream goes through LayerNorm (removal changes its statistics) but
  // pruning it still yields a model that runs, with normalized_shape
  // rewritten.
  jit::Module copy = m.clone();
  auto a = ChannelDependencyGraph::Build(copy, shape);
  ASSERT_TRUE(a.ok());
  KeepMasks keep = KeepAll(**a);
  const ChannelGroup* s = GroupOf(**a, "stem");
  keep[s->id][0] = keep[s->id][5] = false;
  auto r = ApplyChannelPruning(**a, keep);
  ASSERT_TRUE(r.ok()) << r.status();
  // normalized_shape is a constant of forward itself: edited there.
  EXPECT_FALSE(r->forward_rewritten);
  EXPECT_EQ(r->constants_rewritten, 2);  // groups and normalized_shape
  EXPECT_EQ(Forward(copy, torch::randn(shape)).sizes(),
            (std::vector<int64_t>{1, 10}));
  EXPECT_EQ(copy.attr("lnw").toTensor().size(0), 6);
}

TEST(DependencyRulesTest, GroupNormKeepsItsGroups) {
  const std::string src = absl::StrCat(
      "def forward(self, x):\n"
      "    y = torch.conv2d(x, self.c1, None, [1, 1], [1, 1])\n"
      "    y = torch.relu(torch.group_norm(y, 4, self.gw, self.gb, 1e-5, "
      "False))\n"
      "    y = torch.conv2d(y, self.c2, None)\n",
      kHead);
  auto m = MakeModule({{"c1", {16, 3, 3, 3}},
                       {"gw", {16}, 'g'},
                       {"gb", {16}, 'b'},
                       {"c2", {6, 16, 1, 1}},
                       {"fc", {10, 6}},
                       {"fcb", {10}, 'b'}},
                      src);
  const std::vector<int64_t> shape = {1, 3, 8, 8};
  auto g = ChannelDependencyGraph::Build(m, shape);
  ASSERT_TRUE(g.ok()) << g.status();
  const ChannelGroup* c1 = GroupOf(**g, "c1");
  ASSERT_NE(c1, nullptr);
  EXPECT_TRUE(c1->prunable) << c1->frozen_reason;
  EXPECT_EQ(c1->channels.size(), 4u);  // 4 positions x 4 groups
  KeepMasks keep = KeepAll(**g);
  keep[c1->id][1] = false;
  ASSERT_TRUE(ApplyChannelPruning(**g, keep).ok());
  EXPECT_EQ(m.attr("gw").toTensor().size(0), 12);
  EXPECT_EQ(Forward(m, torch::randn(shape)).sizes(),
            (std::vector<int64_t>{1, 10}));
}

TEST(DependencyRulesTest, AttributeBranchesAndRaisePathsAreSpecialisedAway) {
  // `use_res` and `checked` are attributes: their branches fold away, as
  // does the raise path; the conv inside the branch is counted and pruned.
  const std::string src = absl::StrCat(
      "def forward(self, x):\n"
      "    y = torch.conv2d(x, self.c1, None, [1, 1], [1, 1])\n",
      BnRelu("y", "y", 1, "self.training"),
      "    assert not self.checked, 'not supported'\n"
      "    if self.use_res:\n"
      "        z = torch.conv2d(y, self.c2, None, [1, 1], [1, 1])\n"
      "        z = torch.relu(torch.batch_norm(z, self.g2, self.b2, self.m2, "
      "self.v2, self.training, 0.1, 1e-5, False))\n"
      "        y = torch.conv2d(z, self.c3, None) + y\n"
      "    else:\n"
      "        y = torch.conv2d(y, self.c3, None)\n",
      kHead);
  auto m = MakeModule(
      Join({{{"c1", {8, 3, 3, 3}}},
            Bn(1, 8),
            {{"c2", {12, 8, 3, 3}}},
            Bn(2, 12),
            {{"c3", {8, 12, 1, 1}}, {"fc", {10, 8}}, {"fcb", {10}, 'b'}}}),
      src, {{"use_res", true}, {"checked", false}});
  const std::vector<int64_t> shape = {1, 3, 8, 8};
  auto g = ChannelDependencyGraph::Build(m, shape);
  ASSERT_TRUE(g.ok()) << g.status();
  const ChannelGroup* inner = GroupOf(**g, "c2");
  ASSERT_NE(inner, nullptr) << (*g)->Describe();
  EXPECT_TRUE(inner->prunable) << inner->frozen_reason;
  EXPECT_TRUE(GroupOf(**g, "c1")->residual);
  auto cost = CountModelCost(m, shape);
  ASSERT_TRUE(cost.ok());
  EXPECT_EQ(cost->total_macs, 64 * (8 * 27 + 12 * 8 * 9 + 8 * 12) + 80);
  EXPECT_EQ(ExpectRemovalEqualsMasking(m, shape), 4);
  // The saved code keeps honouring train(): BatchNorm updates its stats.
  jit::Module copy = m.clone();
  auto a = ChannelDependencyGraph::Build(copy, shape);
  ASSERT_TRUE(a.ok());
  KeepMasks keep = KeepAll(**a);
  keep[GroupOf(**a, "c2")->id][3] = false;
  ASSERT_TRUE(ApplyChannelPruning(**a, keep).ok());
  copy.train();
  torch::Tensor before = copy.attr("m2").toTensor().clone();
  copy.forward({torch::randn(shape)});
  EXPECT_FALSE(torch::equal(before, copy.attr("m2").toTensor()));
}

TEST(DependencyRulesTest, DataDependentBranchFreezesWhatItTouchesAndSaysWhy) {
  const std::string src = absl::StrCat(
      "def forward(self, x):\n"
      "    y = torch.conv2d(x, self.c1, None, [1, 1], [1, 1])\n"
      "    z = torch.conv2d(y, self.c2, None, [1, 1], [1, 1])\n"
      "    if bool(x.sum() > 0):\n"
      "        z = torch.relu(z)\n"
      "    y = torch.conv2d(z, self.c3, None)\n",
      kHead);
  auto m = MakeModule({{"c1", {8, 3, 3, 3}},
                       {"c2", {8, 8, 3, 3}},
                       {"c3", {6, 8, 1, 1}},
                       {"fc", {10, 6}},
                       {"fcb", {10}, 'b'}},
                      src);
  auto g = ChannelDependencyGraph::Build(m, {1, 3, 8, 8});
  ASSERT_TRUE(g.ok()) << g.status();
  const ChannelGroup* c2 = GroupOf(**g, "c2");
  ASSERT_NE(c2, nullptr);
  EXPECT_FALSE(c2->prunable);
  EXPECT_THAT(c2->frozen_reason, HasSubstr("prim::If"));
  EXPECT_THAT(c2->frozen_reason, HasSubstr("aten::"));
  // Only what the branch touches is frozen.
  EXPECT_TRUE(GroupOf(**g, "c1")->prunable);
  EXPECT_TRUE(GroupOf(**g, "c3")->prunable);
}

TEST(DependencyRulesTest, BnGammaWithoutBatchNormScoresByL1AndSaysSo) {
  const std::string src = absl::StrCat(
      "def forward(self, x):\n"
      "    y = torch.relu(torch.conv2d(x, self.c1, self.c1b, [1, 1], [1, 1]))\n"
      "    y = torch.relu(torch.conv2d(y, self.c2, self.c2b, [1, 1], [1, "
      "1]))\n",
      kHead);
  auto m = MakeModule({{"c1", {8, 3, 3, 3}},
                       {"c1b", {8}, 'b'},
                       {"c2", {6, 8, 3, 3}},
                       {"c2b", {6}, 'b'},
                       {"fc", {10, 6}},
                       {"fcb", {10}, 'b'}},
                      src);
  PruningOptions options;  // criterion bn_gamma
  options.policy.kind = PolicyKind::kUniform;
  options.policy.ratio = 0.5;
  auto result = PruneModule(m, {1, 3, 8, 8}, options);
  ASSERT_TRUE(result.ok()) << result.status();
  int pruned = 0;
  for (const auto& l : result->report.layers()) {
    EXPECT_EQ(l.criterion(), "l1 (no BatchNorm)") << l.name();
    EXPECT_EQ(l.channels_after(), l.channels_before() / 2) << l.name();
    ++pruned;
  }
  EXPECT_EQ(pruned, 2);
  EXPECT_LT(result->report.params_after(), result->report.params_before());
  // The kept channels are the ones with the largest L1 norms.
  auto c1 = m.attr("c1").toTensor().reshape({8, -1}).abs().sum(1);
  auto top = std::get<1>(c1.topk(4)).sort();
  auto kept = result->module.attr("c1").toTensor();
  EXPECT_TRUE(torch::equal(
      kept, m.attr("c1").toTensor().index_select(0, std::get<0>(top))));
}

}  // namespace
}  // namespace pruneserve::pruning
