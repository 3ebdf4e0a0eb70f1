#include "tests/testing/tiny_models.h"

#include <torch/script.h>
#include <torch/torch.h>

namespace pruneserve::testing {

void WriteTinyCnn(const std::string& path, int seed) {
  torch::manual_seed(seed);
  torch::jit::Module m("TinyCnn");
  m.register_parameter("conv_weight", torch::randn({4, 1, 3, 3}) * 0.3, false);
  m.register_parameter("bn_weight", torch::ones({4}), false);
  m.register_parameter("bn_bias", torch::zeros({4}), false);
  m.register_buffer("bn_mean", torch::zeros({4}));
  m.register_buffer("bn_var", torch::ones({4}));
  m.register_parameter("fc_weight", torch::randn({10, 4}) * 0.3, false);
  m.register_parameter("fc_bias", torch::zeros({10}), false);
  m.define(R"JIT(
    def forward(self, x):
        y = torch.conv2d(x, self.conv_weight, None, [1, 1], [1, 1])
        y = torch.batch_norm(y, self.bn_weight, self.bn_bias, self.bn_mean,
                             self.bn_var, False, 0.1, 1e-5, False)
        y = torch.relu(y)
        y = torch.adaptive_avg_pool2d(y, [1, 1])
        y = torch.flatten(y, 1)
        return torch.linear(y, self.fc_weight, self.fc_bias)
  )JIT");
  m.save(path);
}

}  // namespace pruneserve::testing
