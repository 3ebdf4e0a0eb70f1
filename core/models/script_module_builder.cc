// Implementation of ScriptModuleBuilder: class sharing, the leaf layers
// (Conv2d, BatchNorm2d, Linear, Sequential) and their initialisation.
#include "core/models/script_module_builder.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace pruneserve::models {
namespace {

constexpr char kClassPrefix[] = "__torch__.pruneserve.";

// Parameters require grad like nn.Parameter; initialisation happens before.
at::Tensor Trainable(at::Tensor t) { return t.set_requires_grad(true); }

void RegisterIntAttribute(torch::jit::Module& m, const std::string& name,
                          int64_t value) {
  m.register_attribute(name, c10::IntType::get(), value);
}

}  // namespace

ScriptModuleBuilder::ScriptModuleBuilder(uint64_t seed)
    : cu_(std::make_shared<torch::jit::CompilationUnit>()),
      generator_(at::detail::createCPUGenerator(seed)) {}

torch::jit::Module ScriptModuleBuilder::Instantiate(
    const std::string& type_key, const std::string& class_name,
    const std::function<void(torch::jit::Module&)>& populate,
    const std::string& source) {
  auto it = types_.find(type_key);
  if (it != types_.end()) {
    torch::jit::Module m(cu_, it->second);
    m.register_attribute("training", c10::BoolType::get(), true);
    populate(m);
    return m;
  }
  torch::jit::Module m(
      c10::QualifiedName(absl::StrCat(kClassPrefix, class_name)), cu_,
      /*shouldMangle=*/true);
  m.register_attribute("training", c10::BoolType::get(), true);
  populate(m);
  m.define(source);
  types_.emplace(type_key, m.type());
  return m;
}

torch::jit::Module ScriptModuleBuilder::Conv2d(const ConvSpec& spec) {
  torch::NoGradGuard no_grad;
  const int64_t k = spec.kernel_size;
  at::Tensor weight =
      torch::empty({spec.out_channels, spec.in_channels / spec.groups, k, k});
  // torchvision's kaiming_normal_(mode="fan_out", nonlinearity="relu").
  const double fan_out = static_cast<double>(spec.out_channels * k * k);
  weight.normal_(0.0, std::sqrt(2.0 / fan_out), generator_);
  at::Tensor bias;
  if (spec.bias) bias = torch::zeros({spec.out_channels});

  auto populate = [&](torch::jit::Module& m) {
    m.register_parameter("weight", Trainable(weight), /*is_buffer=*/false);
    if (spec.bias) {
      m.register_parameter("bias", Trainable(bias), /*is_buffer=*/false);
    } else {
      // Python-scripted convs without bias carry a None `bias` attribute.
      m.register_attribute("bias", c10::NoneType::get(), c10::IValue());
    }
    RegisterIntAttribute(m, "in_channels", spec.in_channels);
    RegisterIntAttribute(m, "out_channels", spec.out_channels);
    RegisterIntAttribute(m, "kernel_size", spec.kernel_size);
    RegisterIntAttribute(m, "stride", spec.stride);
    RegisterIntAttribute(m, "padding", spec.padding);
    RegisterIntAttribute(m, "groups", spec.groups);
  };
  static constexpr char kSource[] = R"JIT(
def forward(self, x):
    return torch.conv2d(x, self.weight, self.bias, [self.stride, self.stride],
                        [self.padding, self.padding], [1, 1], self.groups)
)JIT";
  return Instantiate(spec.bias ? "Conv2d/bias" : "Conv2d/nobias", "Conv2d",
                     populate, kSource);
}

torch::jit::Module ScriptModuleBuilder::BatchNorm2d(int64_t num_features) {
  auto populate = [&](torch::jit::Module& m) {
    m.register_parameter("weight", Trainable(torch::ones({num_features})),
                         /*is_buffer=*/false);
    m.register_parameter("bias", Trainable(torch::zeros({num_features})),
                         /*is_buffer=*/false);
    m.register_buffer("running_mean", torch::zeros({num_features}));
    m.register_buffer("running_var", torch::ones({num_features}));
    m.register_buffer("num_batches_tracked",
                      torch::zeros({}, torch::dtype(torch::kLong)));
    RegisterIntAttribute(m, "num_features", num_features);
  };
  static constexpr char kSource[] = R"JIT(
def forward(self, x):
    return torch.batch_norm(x, self.weight, self.bias, self.running_mean,
                            self.running_var, self.training, 0.1, 1e-05, True)
)JIT";
  return Instantiate("BatchNorm2d", "BatchNorm2d", populate, kSource);
}

torch::jit::Module ScriptModuleBuilder::Linear(int64_t in_features,
                                               int64_t out_features) {
  torch::NoGradGuard no_grad;
  // nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5)) reduces to
  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the bias uses the same bound.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  at::Tensor weight = torch::empty({out_features, in_features});
  weight.uniform_(-bound, bound, generator_);
  at::Tensor bias = torch::empty({out_features});
  bias.uniform_(-bound, bound, generator_);
  auto populate = [&](torch::jit::Module& m) {
    m.register_parameter("weight", Trainable(weight), /*is_buffer=*/false);
    m.register_parameter("bias", Trainable(bias), /*is_buffer=*/false);
    RegisterIntAttribute(m, "in_features", in_features);
    RegisterIntAttribute(m, "out_features", out_features);
  };
  static constexpr char kSource[] = R"JIT(
def forward(self, x):
    return torch.linear(x, self.weight, self.bias)
)JIT";
  return Instantiate("Linear", "Linear", populate, kSource);
}

torch::jit::Module ScriptModuleBuilder::Sequential(
    const std::vector<torch::jit::Module>& children) {
  // Same child classes in the same order → same Sequential class.
  std::string key = "Sequential";
  std::string source = "\ndef forward(self, x):\n";
  for (size_t i = 0; i < children.size(); ++i) {
    absl::StrAppend(&key, "/", children[i].type()->name()->qualifiedName());
    absl::StrAppend(&source, "    x = getattr(self, \"", i, "\").forward(x)\n");
  }
  absl::StrAppend(&source, "    return x\n");
  auto populate = [&](torch::jit::Module& m) {
    for (size_t i = 0; i < children.size(); ++i) {
      m.register_module(std::to_string(i), children[i]);
    }
  };
  return Instantiate(key, "Sequential", populate, source);
}

}  // namespace pruneserve::models
