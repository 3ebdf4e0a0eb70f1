// BuildZooModel: option validation, the name → constructor table and the
// torch-exception boundary of the model zoo.
#include "core/models/model_zoo.h"

#include <torch/script.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/models/script_module_builder.h"
#include "core/models/zoo_architectures.h"
#include "core/util/torch_status.h"

namespace pruneserve::models {
namespace {

using Constructor =
    std::function<torch::jit::Module(const ZooOptions&, ScriptModuleBuilder&)>;

struct ZooEntry {
  const char* name;
  Constructor build;
};

const std::vector<ZooEntry>& Entries() {
  static const auto* const kEntries = new std::vector<ZooEntry>{
      {"vgg11_bn", [](auto& o, auto& b) { return BuildVgg(11, o, b); }},
      {"vgg13_bn", [](auto& o, auto& b) { return BuildVgg(13, o, b); }},
      {"vgg16_bn", [](auto& o, auto& b) { return BuildVgg(16, o, b); }},
      {"vgg19_bn", [](auto& o, auto& b) { return BuildVgg(19, o, b); }},
      {"resnet20", [](auto& o, auto& b) { return BuildCifarResNet(3, o, b); }},
      {"resnet32", [](auto& o, auto& b) { return BuildCifarResNet(5, o, b); }},
      {"resnet44", [](auto& o, auto& b) { return BuildCifarResNet(7, o, b); }},
      {"resnet56", [](auto& o, auto& b) { return BuildCifarResNet(9, o, b); }},
      {"resnet110",
       [](auto& o, auto& b) { return BuildCifarResNet(18, o, b); }},
      {"resnet18",
       [](auto& o, auto& b) {
         return BuildResNet({2, 2, 2, 2}, false, o, b);
       }},
      {"resnet34",
       [](auto& o, auto& b) {
         return BuildResNet({3, 4, 6, 3}, false, o, b);
       }},
      {"resnet50",
       [](auto& o, auto& b) {
         return BuildResNet({3, 4, 6, 3}, true, o, b);
       }},
      {"resnet101",
       [](auto& o, auto& b) {
         return BuildResNet({3, 4, 23, 3}, true, o, b);
       }},
      {"mobilenet_v2", [](auto& o, auto& b) { return BuildMobileNetV2(o, b); }},
  };
  return *kEntries;
}

absl::Status ValidateOptions(const ZooOptions& options) {
  if (options.in_channels < 1 || options.in_channels > 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "in_channels must be in [1, 64], got ", options.in_channels));
  }
  if (options.num_classes < 1 || options.num_classes > 100000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "num_classes must be in [1, 100000], got ", options.num_classes));
  }
  if (!std::isfinite(options.width_multiplier) ||
      options.width_multiplier <= 0.0 || options.width_multiplier > 16.0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "width_multiplier must be in (0, 16], got ", options.width_multiplier));
  }
  if (options.input_size < 4 || options.input_size > 1024) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input_size must be in [4, 1024], got ", options.input_size));
  }
  return absl::OkStatus();
}

}  // namespace

int64_t ScaleChannels(int64_t channels, double width) {
  return std::max<int64_t>(1, std::llround(channels * width));
}

ConvSpec BnConvSpec(int64_t in_channels, int64_t out_channels,
                    int64_t kernel_size, int64_t stride, int64_t groups) {
  ConvSpec spec;
  spec.in_channels = in_channels;
  spec.out_channels = out_channels;
  spec.kernel_size = kernel_size;
  spec.stride = stride;
  spec.padding = kernel_size / 2;
  spec.groups = groups;
  spec.bias = false;
  return spec;
}

std::vector<std::string> ZooModelNames() {
  std::vector<std::string> names;
  for (const ZooEntry& entry : Entries()) names.push_back(entry.name);
  return names;
}

absl::StatusOr<torch::jit::Module> BuildZooModel(const ZooOptions& options) {
  const std::string arch = absl::AsciiStrToLower(options.arch);
  const ZooEntry* found = nullptr;
  for (const ZooEntry& entry : Entries()) {
    if (arch == entry.name) found = &entry;
  }
  if (found == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown model architecture '", options.arch,
                     "'; known: ", absl::StrJoin(ZooModelNames(), ", ")));
  }
  if (absl::Status s = ValidateOptions(options); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(arch, ": ", s.message()));
  }
  try {
    ScriptModuleBuilder builder(options.seed);
    torch::jit::Module model = found->build(options, builder);
    model.train(true);
    return model;
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, absl::StrCat("building ", arch),
                              absl::StatusCode::kInternal);
  }
}

}  // namespace pruneserve::models
