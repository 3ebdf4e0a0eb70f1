// Builds TorchScript modules in C++ that look like the ones `torch.jit.script`
// makes from Python nn.Modules: every module has a `training` attribute,
// layers keep their weights as parameters and their hyper-parameters as int
// attributes, and every forward is TorchScript source calling plain aten ops
// (conv2d, batch_norm, linear, ...) or child modules. The graph analysis of the
// pruning engine relies on this shape, and Python's torch.jit.load reads the
// saved archives as ordinary RecursiveScriptModules.
//
// Modules with the same structure share one ClassType (as Python scripting
// does for identically-configured modules), so a ResNet-110 compiles a handful
// of forward methods, not hundreds.
#ifndef PRUNESERVE_CORE_MODELS_SCRIPT_MODULE_BUILDER_H_
#define PRUNESERVE_CORE_MODELS_SCRIPT_MODULE_BUILDER_H_

#include <ATen/core/Generator.h>
#include <torch/script.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace pruneserve::models {

// Hyper-parameters of one 2-D convolution (square kernel, equal stride and
// padding in both spatial dimensions, dilation 1).
struct ConvSpec {
  // Input and output channels. in_channels must be divisible by groups.
  int64_t in_channels = 1;
  int64_t out_channels = 1;
  // Square kernel side.
  int64_t kernel_size = 3;
  int64_t stride = 1;
  int64_t padding = 0;
  // 1 for a dense conv, in_channels (== out_channels) for a depthwise one.
  int64_t groups = 1;
  // Convs followed by BatchNorm carry no bias (the BN beta plays its role).
  bool bias = false;
};

// Creates the modules of one model. All modules it returns live in the
// builder's compilation unit; the root module keeps that unit alive, so the
// builder may be destroyed once the root is built.
//
// Weight initialisation follows PyTorch/torchvision defaults and draws from a
// private generator seeded at construction: the same sequence of calls with
// the same seed yields bit-identical weights, independent of torch's global
// RNG and of other threads.
//
// Not thread-safe; use one builder per model. Methods throw c10::Error on
// TorchScript compilation failures (a bug in the caller's source text); the
// caller converts that to a Status at its boundary.
class ScriptModuleBuilder {
 public:
  explicit ScriptModuleBuilder(uint64_t seed);

  ScriptModuleBuilder(const ScriptModuleBuilder&) = delete;
  ScriptModuleBuilder& operator=(const ScriptModuleBuilder&) = delete;

  // Conv module with parameters `weight` [out, in/groups, k, k] (kaiming
  // normal, fan_out, ReLU gain) and `bias` (zeros, or a None attribute), and
  // int attributes in_channels, out_channels, kernel_size, stride, padding,
  // groups. Its forward reads stride/padding/groups from the attributes, so a
  // pass that prunes a depthwise conv only has to update them.
  torch::jit::Module Conv2d(const ConvSpec& spec);

  // BatchNorm2d module: parameters weight (ones) and bias (zeros), buffers
  // running_mean (zeros), running_var (ones), num_batches_tracked (int64 0),
  // int attribute num_features. Forward calls torch.batch_norm with
  // self.training, momentum 0.1 and eps 1e-5, so train()/eval() switches
  // between batch statistics (updating the running ones) and running
  // statistics. num_batches_tracked is kept for state-dict compatibility only;
  // with a fixed momentum it does not influence the result.
  torch::jit::Module BatchNorm2d(int64_t num_features);

  // Linear module: weight [out, in] and bias [out], both uniform in
  // ±1/sqrt(in) as nn.Linear initialises them; int attributes in_features,
  // out_features.
  torch::jit::Module Linear(int64_t in_features, int64_t out_features);

  // A container whose children are named "0", "1", ... and whose forward
  // feeds each child's output to the next, like a scripted nn.Sequential.
  torch::jit::Module Sequential(
      const std::vector<torch::jit::Module>& children);

  // Generic entry point for composite modules. `populate` registers the
  // module's attributes, parameters and children (always in the same order
  // and with the same types for one `type_key`); `source` holds its methods.
  // The first call for a `type_key` creates a new class named `class_name`
  // and compiles `source`; later calls reuse that class. The `training`
  // attribute is registered before `populate` runs.
  torch::jit::Module Instantiate(
      const std::string& type_key, const std::string& class_name,
      const std::function<void(torch::jit::Module&)>& populate,
      const std::string& source);

 private:
  std::shared_ptr<torch::jit::CompilationUnit> cu_;
  // type_key → class shared by all modules built with that key.
  absl::flat_hash_map<std::string, c10::ClassTypePtr> types_;
  at::Generator generator_;
};

}  // namespace pruneserve::models

#endif  // PRUNESERVE_CORE_MODELS_SCRIPT_MODULE_BUILDER_H_
