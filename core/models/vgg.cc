// VGG-with-BatchNorm for small images. The convolutional part follows the
// VGG configurations A/B/D/E; the classifier is a global average pool and
// one linear layer, as in the CIFAR pruning literature (Network Slimming),
// so that the parameters sit in the prunable conv layers.
#include <torch/script.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/models/zoo_architectures.h"

namespace pruneserve::models {
namespace {

constexpr int64_t kPool = -1;

std::vector<int64_t> VggConfig(int depth) {
  const int64_t M = kPool;
  switch (depth) {
    case 11:
      return {64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M};
    case 13:
      return {64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M};
    case 16:
      return {64, 64,  M,   128, 128, M,   256, 256, 256,
              M,  512, 512, 512, M,   512, 512, 512, M};
    default:  // 19
      return {64,  64,  M,   128, 128, M,   256, 256, 256, 256, M,
              512, 512, 512, 512, M,   512, 512, 512, 512, M};
  }
}

}  // namespace

torch::jit::Module BuildVgg(int depth, const ZooOptions& options,
                            ScriptModuleBuilder& builder) {
  std::vector<torch::jit::Module> convs;
  std::vector<torch::jit::Module> bns;
  std::string source = "\ndef forward(self, x):\n";
  int64_t channels = options.in_channels;
  int64_t spatial = options.input_size;
  for (int64_t entry : VggConfig(depth)) {
    if (entry == kPool) {
      // A 2x2 pool on a 1x1 map is impossible; small inputs (28x28 has one
      // halving fewer than 32x32 before reaching 1) skip the late pools.
      if (spatial >= 2) {
        absl::StrAppend(&source,
                        "    x = torch.max_pool2d(x, [2, 2], [2, 2])\n");
        spatial /= 2;
      }
      continue;
    }
    const int64_t out = ScaleChannels(entry, options.width_multiplier);
    const size_t i = convs.size();
    convs.push_back(builder.Conv2d(BnConvSpec(channels, out, 3, 1)));
    bns.push_back(builder.BatchNorm2d(out));
    absl::StrAppend(&source, "    x = torch.relu(self.bn", i,
                    ".forward(self.conv", i, ".forward(x)))\n");
    channels = out;
  }
  absl::StrAppend(&source, "    return x\n");

  torch::jit::Module features = builder.Instantiate(
      absl::StrCat("VggFeatures/", depth, "/", source), "VggFeatures",
      [&](torch::jit::Module& m) {
        for (size_t i = 0; i < convs.size(); ++i) {
          m.register_module(absl::StrCat("conv", i), convs[i]);
          m.register_module(absl::StrCat("bn", i), bns[i]);
        }
      },
      source);
  torch::jit::Module classifier = builder.Linear(channels, options.num_classes);

  static constexpr char kSource[] = R"JIT(
def forward(self, x):
    x = self.features.forward(x)
    x = torch.adaptive_avg_pool2d(x, [1, 1])
    x = torch.flatten(x, 1)
    return self.classifier.forward(x)
)JIT";
  return builder.Instantiate(
      absl::StrCat("VGG", depth), absl::StrCat("VGG", depth, "BN"),
      [&](torch::jit::Module& m) {
        m.register_module("features", features);
        m.register_module("classifier", classifier);
      },
      kSource);
}

}  // namespace pruneserve::models
