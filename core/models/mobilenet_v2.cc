// MobileNetV2 (Sandler et al.) with torchvision's channel rounding and
// layer table, adapted to small images the usual way: the stem and the
// 16- and 24-channel stages run at stride 1, so a 32x32 input ends at 4x4.
// Activations are ReLU (not ReLU6) to keep the graph to the ops the pruning
// engine analyses; depthwise convs are convs with groups == channels.
#include <torch/script.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/models/zoo_architectures.h"

namespace pruneserve::models {
namespace {

// torchvision's _make_divisible: nearest multiple of `divisor`, never more
// than 10 % below the unrounded value.
int64_t MakeDivisible(double value, int64_t divisor = 8) {
  int64_t rounded = std::max<int64_t>(
      divisor,
      (static_cast<int64_t>(value + divisor / 2.0) / divisor) * divisor);
  if (rounded < 0.9 * value) rounded += divisor;
  return rounded;
}

// conv + BN + ReLU, named conv/bn.
torch::jit::Module ConvBnRelu(const ConvSpec& spec,
                              ScriptModuleBuilder& builder) {
  torch::jit::Module conv = builder.Conv2d(spec);
  torch::jit::Module bn = builder.BatchNorm2d(spec.out_channels);
  static constexpr char kSource[] = R"JIT(
def forward(self, x):
    return torch.relu(self.bn.forward(self.conv.forward(x)))
)JIT";
  return builder.Instantiate(
      "ConvBNReLU", "ConvBNReLU",
      [&](torch::jit::Module& m) {
        m.register_module("conv", conv);
        m.register_module("bn", bn);
      },
      kSource);
}

torch::jit::Module InvertedResidual(int64_t in, int64_t out, int64_t stride,
                                    int64_t expand_ratio,
                                    ScriptModuleBuilder& builder) {
  const int64_t hidden = in * expand_ratio;
  const bool expand = expand_ratio != 1;
  const bool residual = stride == 1 && in == out;
  torch::jit::Module expand_layer;
  if (expand) expand_layer = ConvBnRelu(BnConvSpec(in, hidden, 1, 1), builder);
  torch::jit::Module depthwise =
      ConvBnRelu(BnConvSpec(hidden, hidden, 3, stride, hidden), builder);
  torch::jit::Module project_conv =
      builder.Conv2d(BnConvSpec(hidden, out, 1, 1));
  torch::jit::Module project_bn = builder.BatchNorm2d(out);
  std::string source = "\ndef forward(self, x):\n";
  absl::StrAppend(
      &source, expand
                   ? "    y = self.depthwise.forward(self.expand.forward(x))\n"
                   : "    y = self.depthwise.forward(x)\n");
  absl::StrAppend(
      &source,
      "    y = self.project_bn.forward(self.project_conv.forward(y))\n");
  absl::StrAppend(&source, residual ? "    return x + y\n" : "    return y\n");
  return builder.Instantiate(
      absl::StrCat("InvertedResidual/", expand, "/", residual),
      "InvertedResidual",
      [&](torch::jit::Module& m) {
        if (expand) m.register_module("expand", expand_layer);
        m.register_module("depthwise", depthwise);
        m.register_module("project_conv", project_conv);
        m.register_module("project_bn", project_bn);
      },
      source);
}

struct StageSpec {
  int64_t expand_ratio;
  int64_t channels;
  int64_t repeats;
  int64_t stride;
};

}  // namespace

torch::jit::Module BuildMobileNetV2(const ZooOptions& options,
                                    ScriptModuleBuilder& builder) {
  // torchvision's table with the CIFAR stride changes on the 24 stage.
  static constexpr StageSpec kStages[] = {
      {1, 16, 1, 1}, {6, 24, 2, 1},  {6, 32, 3, 2}, {6, 64, 4, 2},
      {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  const double w = options.width_multiplier;
  std::vector<torch::jit::Module> features;
  int64_t in = MakeDivisible(32 * w);
  features.push_back(
      ConvBnRelu(BnConvSpec(options.in_channels, in, 3, 1), builder));
  for (const StageSpec& stage : kStages) {
    const int64_t out = MakeDivisible(stage.channels * w);
    for (int64_t i = 0; i < stage.repeats; ++i) {
      features.push_back(InvertedResidual(in, out, i == 0 ? stage.stride : 1,
                                          stage.expand_ratio, builder));
      in = out;
    }
  }
  const int64_t last = MakeDivisible(1280 * std::max(1.0, w));
  features.push_back(ConvBnRelu(BnConvSpec(in, last, 1, 1), builder));
  torch::jit::Module feature_stack = builder.Sequential(features);
  torch::jit::Module classifier = builder.Linear(last, options.num_classes);
  static constexpr char kSource[] = R"JIT(
def forward(self, x):
    x = self.features.forward(x)
    x = torch.adaptive_avg_pool2d(x, [1, 1])
    x = torch.flatten(x, 1)
    x = torch.dropout(x, 0.2, self.training)
    return self.classifier.forward(x)
)JIT";
  return builder.Instantiate(
      "MobileNetV2", "MobileNetV2",
      [&](torch::jit::Module& m) {
        m.register_module("features", feature_stack);
        m.register_module("classifier", classifier);
      },
      kSource);
}

}  // namespace pruneserve::models
