// Residual networks: He et al.'s CIFAR ResNets (resnet20 ... resnet110) and
// the torchvision layouts (resnet18/34 with basic blocks, resnet50/101 with
// bottlenecks) on a CIFAR stem. Module and parameter names follow
// torchvision (conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, fc), so
// state dicts line up with Python code that uses those names. Shortcuts that
// change shape are 1x1 conv + BN projections; the residual add is a plain
// aten::add, which the pruning engine recognises as a channel coupling.
#include <torch/script.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/models/zoo_architectures.h"

namespace pruneserve::models {
namespace {

// 1x1 conv + BN projection used when a block changes shape.
torch::jit::Module Downsample(int64_t in, int64_t out, int64_t stride,
                              ScriptModuleBuilder& builder) {
  return builder.Sequential({builder.Conv2d(BnConvSpec(in, out, 1, stride)),
                             builder.BatchNorm2d(out)});
}

// A residual block whose branch is the conv + BN pairs `convs` (named
// conv1/bn1, conv2/bn2, ...; ReLU after every pair but the last), added to
// the input or to its 1x1 projection when the shape changes. Submodules are
// created in order (conv1, bn1, ..., downsample) so weights depend only on
// the builder's seed.
torch::jit::Module ResidualBlock(const std::string& class_name,
                                 const std::vector<ConvSpec>& convs, int64_t in,
                                 int64_t out, int64_t stride,
                                 ScriptModuleBuilder& builder) {
  const bool project = stride != 1 || in != out;
  std::vector<std::pair<torch::jit::Module, torch::jit::Module>> layers;
  for (const ConvSpec& spec : convs) {
    torch::jit::Module conv = builder.Conv2d(spec);
    layers.emplace_back(conv, builder.BatchNorm2d(spec.out_channels));
  }
  torch::jit::Module downsample;
  if (project) downsample = Downsample(in, out, stride, builder);
  std::string source = "\ndef forward(self, x):\n";
  for (size_t i = 1; i <= layers.size(); ++i) {
    std::string pair = absl::StrCat("self.bn", i, ".forward(self.conv", i,
                                    ".forward(", i == 1 ? "x" : "out", "))");
    absl::StrAppend(
        &source, "    out = ",
        i < layers.size() ? absl::StrCat("torch.relu(", pair, ")") : pair,
        "\n");
  }
  absl::StrAppend(&source,
                  project ? "    identity = self.downsample.forward(x)\n"
                          : "    identity = x\n",
                  "    return torch.relu(out + identity)\n");
  return builder.Instantiate(
      absl::StrCat(class_name, project ? "/downsample" : "/identity"),
      class_name,
      [&](torch::jit::Module& m) {
        for (size_t i = 0; i < layers.size(); ++i) {
          m.register_module(absl::StrCat("conv", i + 1), layers[i].first);
          m.register_module(absl::StrCat("bn", i + 1), layers[i].second);
        }
        if (project) m.register_module("downsample", downsample);
      },
      source);
}

torch::jit::Module BasicBlock(int64_t in, int64_t out, int64_t stride,
                              ScriptModuleBuilder& builder) {
  return ResidualBlock(
      "BasicBlock",
      {BnConvSpec(in, out, 3, stride), BnConvSpec(out, out, 3, 1)}, in, out,
      stride, builder);
}

// torchvision's Bottleneck (ResNet v1.5: the stride sits on the 3x3 conv).
torch::jit::Module Bottleneck(int64_t in, int64_t planes, int64_t out,
                              int64_t stride, ScriptModuleBuilder& builder) {
  return ResidualBlock(
      "Bottleneck",
      {BnConvSpec(in, planes, 1, 1), BnConvSpec(planes, planes, 3, stride),
       BnConvSpec(planes, out, 1, 1)},
      in, out, stride, builder);
}

// Stem (3x3 conv + BN + ReLU), the given stages, global pool and fc.
torch::jit::Module AssembleResNet(const std::string& class_name,
                                  int64_t stem_channels,
                                  const std::vector<torch::jit::Module>& layers,
                                  int64_t final_channels,
                                  const ZooOptions& options,
                                  ScriptModuleBuilder& builder) {
  torch::jit::Module conv1 =
      builder.Conv2d(BnConvSpec(options.in_channels, stem_channels, 3, 1));
  torch::jit::Module bn1 = builder.BatchNorm2d(stem_channels);
  torch::jit::Module fc = builder.Linear(final_channels, options.num_classes);
  std::string source = R"JIT(
def forward(self, x):
    x = torch.relu(self.bn1.forward(self.conv1.forward(x)))
)JIT";
  for (size_t i = 0; i < layers.size(); ++i) {
    absl::StrAppend(&source, "    x = self.layer", i + 1, ".forward(x)\n");
  }
  absl::StrAppend(&source, R"JIT(    x = torch.adaptive_avg_pool2d(x, [1, 1])
    x = torch.flatten(x, 1)
    return self.fc.forward(x)
)JIT");
  return builder.Instantiate(
      class_name, class_name,
      [&](torch::jit::Module& m) {
        m.register_module("conv1", conv1);
        m.register_module("bn1", bn1);
        for (size_t i = 0; i < layers.size(); ++i) {
          m.register_module(absl::StrCat("layer", i + 1), layers[i]);
        }
        m.register_module("fc", fc);
      },
      source);
}

}  // namespace

torch::jit::Module BuildCifarResNet(int64_t blocks_per_stage,
                                    const ZooOptions& options,
                                    ScriptModuleBuilder& builder) {
  const double w = options.width_multiplier;
  const int64_t stem = ScaleChannels(16, w);
  std::vector<torch::jit::Module> layers;
  int64_t in = stem;
  const int64_t widths[] = {16, 32, 64};
  for (int stage = 0; stage < 3; ++stage) {
    const int64_t out = ScaleChannels(widths[stage], w);
    std::vector<torch::jit::Module> blocks;
    for (int64_t b = 0; b < blocks_per_stage; ++b) {
      const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      blocks.push_back(BasicBlock(in, out, stride, builder));
      in = out;
    }
    layers.push_back(builder.Sequential(blocks));
  }
  return AssembleResNet(absl::StrCat("CifarResNet", 6 * blocks_per_stage + 2),
                        stem, layers, in, options, builder);
}

torch::jit::Module BuildResNet(const std::vector<int64_t>& blocks,
                               bool bottleneck, const ZooOptions& options,
                               ScriptModuleBuilder& builder) {
  const double w = options.width_multiplier;
  const int64_t expansion = bottleneck ? 4 : 1;
  const int64_t stem = ScaleChannels(64, w);
  std::vector<torch::jit::Module> layers;
  int64_t in = stem;
  int64_t depth = 2;
  for (size_t stage = 0; stage < blocks.size(); ++stage) {
    const int64_t planes = ScaleChannels(int64_t{64} << stage, w);
    const int64_t out = planes * expansion;
    std::vector<torch::jit::Module> stage_blocks;
    for (int64_t b = 0; b < blocks[stage]; ++b) {
      const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      stage_blocks.push_back(bottleneck
                                 ? Bottleneck(in, planes, out, stride, builder)
                                 : BasicBlock(in, out, stride, builder));
      in = out;
    }
    depth += blocks[stage] * (bottleneck ? 3 : 2);
    layers.push_back(builder.Sequential(stage_blocks));
  }
  return AssembleResNet(absl::StrCat("ResNet", depth), stem, layers, in,
                        options, builder);
}

}  // namespace pruneserve::models
