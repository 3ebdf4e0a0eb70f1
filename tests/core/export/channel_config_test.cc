#include "core/export/channel_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/script.h>

#include "core/models/model_zoo.h"
#include "core/pruning/pruning_engine.h"
#include "nlohmann/json.hpp"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tiny_models.h"

namespace pruneserve::vitis {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;

torch::jit::Module SmallVgg() {
  models::ZooOptions options;
  options.arch = "vgg11_bn";
  options.in_channels = 1;
  options.input_size = 28;
  options.width_multiplier = 0.125;
  auto m = models::BuildZooModel(options);
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

TEST(ChannelConfigTest, DescribesEveryLayerOfAZooModel) {
  auto text = ChannelConfigJson(SmallVgg());
  ASSERT_TRUE(text.ok()) << text.status();
  const json doc = json::parse(*text);
  EXPECT_EQ(doc["format"], "pruneserve.channel_config.v1");
  const json& layers = doc["layers"];
  // 8 convs, 8 BatchNorms, 1 classifier.
  ASSERT_EQ(layers.size(), 17u);
  const json& conv0 = layers[0];
  EXPECT_EQ(conv0["path"], "features.conv0");
  EXPECT_EQ(conv0["kind"], "conv");
  EXPECT_EQ(conv0["in_channels"], 1);
  EXPECT_EQ(conv0["out_channels"], 8);
  EXPECT_EQ(conv0["kernel_size"], json({3, 3}));
  EXPECT_EQ(conv0["stride"], json({1, 1}));
  EXPECT_EQ(conv0["padding"], json({1, 1}));
  EXPECT_EQ(conv0["groups"], 1);
  EXPECT_EQ(conv0["bias"], false);
  EXPECT_EQ(layers[1]["path"], "features.bn0");
  EXPECT_EQ(layers[1]["kind"], "batchnorm");
  EXPECT_EQ(layers[1]["num_features"], 8);
  EXPECT_EQ(layers[1]["affine"], true);
  EXPECT_EQ(layers[14]["out_channels"], 64);
  const json& fc = layers[16];
  EXPECT_EQ(fc["path"], "classifier");
  EXPECT_EQ(fc["kind"], "linear");
  EXPECT_EQ(fc["in_features"], 64);
  EXPECT_EQ(fc["out_features"], 10);
  EXPECT_EQ(fc["bias"], true);
}

TEST(ChannelConfigTest, FollowsThePrunedWidths) {
  pruning::PruningOptions options;
  options.policy.kind = pruning::PolicyKind::kUniform;
  options.policy.ratio = 0.5;
  auto pruned = pruning::PruneModule(SmallVgg(), {1, 1, 28, 28}, options);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  auto text = ChannelConfigJson(pruned->module);
  ASSERT_TRUE(text.ok()) << text.status();
  const json layers = json::parse(*text)["layers"];
  ASSERT_EQ(layers.size(), 17u);
  // Every conv's widths equal its weight's, and chain into the next conv.
  int64_t previous_out = 1;
  for (const json& layer : layers) {
    if (layer["kind"] != "conv") continue;
    EXPECT_EQ(layer["in_channels"], previous_out) << layer["path"];
    const at::Tensor w =
        pruned->module.attr(layer["path"].get<std::string>().substr(0, 8))
            .toModule()
            .attr(layer["path"].get<std::string>().substr(9))
            .toModule()
            .attr("weight")
            .toTensor();
    EXPECT_EQ(layer["out_channels"], w.size(0));
    previous_out = layer["out_channels"];
  }
  EXPECT_EQ(layers[0]["out_channels"], 4);
  EXPECT_EQ(layers[1]["num_features"], 4);
  EXPECT_EQ(layers[16]["in_features"], previous_out);
}

TEST(ChannelConfigTest, RejectsAModelWithoutLayerSubmodules) {
  pruneserve::testing::TempDir dir;
  pruneserve::testing::WriteTinyCnn(dir.Join("tiny.pt"));
  auto text = ChannelConfigJson(torch::jit::load(dir.Join("tiny.pt")));
  EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(text.status().message(), ::testing::HasSubstr("submodules"));
}

}  // namespace
}  // namespace pruneserve::vitis
