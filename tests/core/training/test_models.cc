// Builders of the test classifiers; see test_models.h.
#include "tests/core/training/test_models.h"

#include <torch/torch.h>

#include <string>

namespace pruneserve::training::testing {

torch::jit::Module MakeConvBnNet(int64_t num_classes, uint64_t seed,
                                 double dropout) {
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  torch::jit::Module m("ConvBnNet");
  m.register_parameter("conv_weight", torch::randn({4, 1, 3, 3}, gen) * 0.3,
                       false);
  m.register_parameter("conv_bias", torch::zeros({4}), false);
  m.register_parameter("bn_weight", torch::ones({4}), false);
  m.register_parameter("bn_bias", torch::zeros({4}), false);
  m.register_buffer("bn_mean", torch::zeros({4}));
  m.register_buffer("bn_var", torch::ones({4}));
  m.register_parameter("fc_weight", torch::randn({num_classes, 16}, gen) * 0.3,
                       false);
  m.register_parameter("fc_bias", torch::zeros({num_classes}), false);
  m.register_attribute("dropout_p", c10::FloatType::get(), dropout);
  // Modules built in C++ get no `training` flag of their own; forward reads
  // it, and Module::train()/eval() set it.
  m.register_attribute("training", c10::BoolType::get(), true);
  m.define(R"JIT(
    def forward(self, x):
        y = torch.conv2d(x, self.conv_weight, self.conv_bias, [1, 1], [1, 1])
        y = torch.batch_norm(y, self.bn_weight, self.bn_bias, self.bn_mean,
                             self.bn_var, self.training, 0.1, 1e-5, False)
        y = torch.relu(y)
        y = torch.dropout(y, self.dropout_p, self.training)
        y = torch.adaptive_avg_pool2d(y, [2, 2])
        y = torch.flatten(y, 1)
        return torch.linear(y, self.fc_weight, self.fc_bias)
  )JIT");
  for (const auto& p : m.parameters()) p.requires_grad_(true);
  return m;
}

torch::jit::Module MakeIdentityClassifier() {
  torch::jit::Module m("IdentityClassifier");
  m.define(R"JIT(
    def forward(self, x):
        return torch.flatten(x, 1)
  )JIT");
  return m;
}

torch::jit::Module MakeOneWeightNet(double w0) {
  torch::jit::Module m("OneWeightNet");
  m.register_parameter("w", torch::full({1}, w0), false);
  m.define(R"JIT(
    def forward(self, x):
        z = torch.flatten(x, 1) * self.w
        return torch.cat([z, torch.zeros_like(z)], 1)
  )JIT");
  return m;
}

}  // namespace pruneserve::training::testing
