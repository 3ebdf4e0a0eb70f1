// The model zoo: the CNNs of the paper and its baselines, built directly as
// TorchScript modules so the service can train, prune and serve them without
// any Python source. Every model takes float32 [N, in_channels, input_size,
// input_size] and returns logits [N, num_classes].
//
// Architectures (CIFAR-style stems, suited to 28x28 and 32x32 inputs):
//   vgg11_bn vgg13_bn vgg16_bn vgg19_bn  3x3 conv + BN + ReLU stacks, max
//       pools (a pool is skipped once the map is 1x1, so 28x28 inputs work),
//       global average pool, one linear classifier (Network-Slimming style).
//   resnet20 resnet32 resnet44 resnet56 resnet110  He et al.'s CIFAR ResNets
//       (6n+2 layers, 16/32/64 channels, basic blocks, 1x1 conv + BN
//       projection shortcuts where the shape changes).
//   resnet18 resnet34 (basic) resnet50 resnet101 (bottleneck)  torchvision
//       layouts with a 3x3 stride-1 stem and no max pool; parameter names
//       match torchvision's (layer1.0.conv1.weight, fc.weight, ...).
//   mobilenet_v2  torchvision's inverted residuals (ReLU instead of ReLU6 so
//       the graph keeps to plain ops), CIFAR strides (stem and first two
//       stages at stride 1).
//
// The module tree is the one Python would script: conv submodules have
// `weight`/`bias` and int attributes in_channels, out_channels, kernel_size,
// stride, padding, groups; BN submodules have weight, bias, running_mean,
// running_var, num_batches_tracked and honour train()/eval().
#ifndef PRUNESERVE_CORE_MODELS_MODEL_ZOO_H_
#define PRUNESERVE_CORE_MODELS_MODEL_ZOO_H_

#include <torch/script.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace pruneserve::models {

struct ZooOptions {
  // Architecture name, one of ZooModelNames() (case-insensitive).
  std::string arch;
  // Channels of the input images: 3 for CIFAR, 1 for (Fashion-)MNIST.
  int64_t in_channels = 3;
  // Number of output logits.
  int64_t num_classes = 10;
  // Scales every layer's width (MobileNetV2 rounds to multiples of 8, the
  // others to the nearest integer, at least 1). Must be in (0, 16].
  double width_multiplier = 1.0;
  // Side of the square input images. Only VGG's pooling schedule depends on
  // it, but every model is validated to run at this size. Must be in
  // [4, 1024].
  int64_t input_size = 32;
  // Seeds the weight initialisation; equal options give identical weights.
  uint64_t seed = 0;
};

// Builds a freshly initialised model in training mode (call eval() before
// inference). INVALID_ARGUMENT for an unknown arch (the message lists the
// known names) or out-of-range options; INTERNAL if TorchScript rejects the
// generated code. Thread-safe: concurrent calls share no state. Blocks for
// the time it takes to compile the model's methods (tens of milliseconds).
absl::StatusOr<torch::jit::Module> BuildZooModel(const ZooOptions& options);

// All architecture names BuildZooModel accepts, in a fixed order.
std::vector<std::string> ZooModelNames();

}  // namespace pruneserve::models

#endif  // PRUNESERVE_CORE_MODELS_MODEL_ZOO_H_
