// Per-family model constructors behind BuildZooModel. Each takes validated
// ZooOptions and a fresh builder and returns the root module; they throw
// c10::Error only on internal TorchScript compilation bugs, which
// BuildZooModel converts to a Status.
#ifndef PRUNESERVE_CORE_MODELS_ZOO_ARCHITECTURES_H_
#define PRUNESERVE_CORE_MODELS_ZOO_ARCHITECTURES_H_

#include <torch/script.h>

#include <cstdint>
#include <vector>

#include "core/models/model_zoo.h"
#include "core/models/script_module_builder.h"

namespace pruneserve::models {

// Channel count `channels` scaled by `width`, rounded to nearest, >= 1.
int64_t ScaleChannels(int64_t channels, double width);

// A bias-free conv (it feeds a BatchNorm) with "same" padding kernel / 2.
ConvSpec BnConvSpec(int64_t in_channels, int64_t out_channels,
                    int64_t kernel_size, int64_t stride, int64_t groups = 1);

// VGG with BatchNorm; depth is 11, 13, 16 or 19.
torch::jit::Module BuildVgg(int depth, const ZooOptions& options,
                            ScriptModuleBuilder& builder);

// He et al.'s CIFAR ResNet with `blocks_per_stage` basic blocks in each of
// its three stages (depth = 6 * blocks_per_stage + 2).
torch::jit::Module BuildCifarResNet(int64_t blocks_per_stage,
                                    const ZooOptions& options,
                                    ScriptModuleBuilder& builder);

// torchvision-layout ResNet with a CIFAR stem. `bottleneck` selects
// Bottleneck (expansion 4) over BasicBlock; `blocks` has one entry per stage.
torch::jit::Module BuildResNet(const std::vector<int64_t>& blocks,
                               bool bottleneck, const ZooOptions& options,
                               ScriptModuleBuilder& builder);

// MobileNetV2 with CIFAR strides.
torch::jit::Module BuildMobileNetV2(const ZooOptions& options,
                                    ScriptModuleBuilder& builder);

}  // namespace pruneserve::models

#endif  // PRUNESERVE_CORE_MODELS_ZOO_ARCHITECTURES_H_
