#include "tests/core/jobs/fashion_vgg.h"

#include <filesystem>

#include "core/models/model_zoo.h"

namespace pruneserve::jobs {
namespace {

constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

}  // namespace

bool FashionMnistInstalled() {
  return std::filesystem::exists(std::string(kFashionMnistDir) +
                                 "/train-images-idx3-ubyte.gz");
}

std::string FashionMnistSpec(const std::string& split) {
  return std::string("fashion-mnist:") + kFashionMnistDir + ":" + split;
}

absl::StatusOr<torch::jit::Module> SmallFashionVgg() {
  models::ZooOptions zoo;
  zoo.arch = "vgg11_bn";
  zoo.in_channels = 1;
  zoo.input_size = 28;
  zoo.width_multiplier = 0.25;
  absl::StatusOr<torch::jit::Module> module = models::BuildZooModel(zoo);
  if (module.ok()) module->eval();
  return module;
}

}  // namespace pruneserve::jobs
