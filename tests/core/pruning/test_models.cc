#include "tests/core/pruning/test_models.h"

#include <cmath>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace pruneserve::pruning::testing {

namespace jit = torch::jit;

namespace {

jit::IValue AttrAt(const jit::Module& root, const std::string& path) {
  jit::IValue cur = root._ivalue();
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    cur = cur.toObjectRef().getAttr(std::string(part));
  }
  return cur;
}

// Creates submodules in one compilation unit (unique mangled class names)
// and records each conv/linear with its output size.
class Builder {
 public:
  explicit Builder(int seed) : cu_(std::make_shared<jit::CompilationUnit>()) {
    torch::manual_seed(seed);
  }

  jit::Module New(const std::string& cls) {
    jit::Module m(c10::QualifiedName(absl::StrCat("__torch__.pstest.", cls)),
                  cu_, /*shouldMangle=*/true);
    m.register_attribute("training", c10::BoolType::get(), true);
    return m;
  }

  jit::Module Conv(const std::string& path, int64_t cin, int64_t cout,
                   int64_t k, int64_t stride, int64_t hw_out,
                   int64_t groups = 1, bool bias = false,
                   bool groups_as_constant = false) {
    auto m = New("Conv2d");
    const int64_t fan_in = cin / groups * k * k;
    m.register_parameter(
        "weight",
        (torch::randn({cout, cin / groups, k, k}) * std::sqrt(2.0 / fan_in))
            .requires_grad_(),
        false);
    if (bias) {
      m.register_parameter(
          "bias", (torch::randn({cout}) * 0.1).requires_grad_(), false);
    }
    m.register_attribute("in_channels", c10::IntType::get(), cin);
    m.register_attribute("out_channels", c10::IntType::get(), cout);
    m.register_attribute("groups", c10::IntType::get(), groups);
    const int64_t pad = k / 2;
    m.define(absl::StrFormat(
        "def forward(self, x):\n"
        "    return torch.conv2d(x, self.weight, %s, [%d, %d], [%d, %d], "
        "[1, 1], %s)\n",
        bias ? "self.bias" : "None", stride, stride, pad, pad,
        groups_as_constant ? absl::StrCat(groups) : "self.groups"));
    layer_hw_.emplace_back(path, hw_out);
    return m;
  }

  jit::Module Bn(int64_t c) {
    auto m = New("BatchNorm2d");
    m.register_parameter("weight", (torch::rand({c}) + 0.5).requires_grad_(),
                         false);
    m.register_parameter("bias", (torch::randn({c}) * 0.2).requires_grad_(),
                         false);
    m.register_buffer("running_mean", torch::randn({c}) * 0.2);
    m.register_buffer("running_var", torch::rand({c}) + 0.5);
    m.register_attribute("num_features", c10::IntType::get(), c);
    m.define(
        "def forward(self, x):\n"
        "    return torch.batch_norm(x, self.weight, self.bias, "
        "self.running_mean, self.running_var, self.training, 0.1, 1e-5, "
        "False)\n");
    return m;
  }

  jit::Module Linear(const std::string& path, int64_t in, int64_t out) {
    auto m = New("Linear");
    m.register_parameter(
        "weight", (torch::randn({out, in}) / std::sqrt(in)).requires_grad_(),
        false);
    m.register_parameter("bias", (torch::randn({out}) * 0.1).requires_grad_(),
                         false);
    m.register_attribute("in_features", c10::IntType::get(), in);
    m.register_attribute("out_features", c10::IntType::get(), out);
    m.define(
        "def forward(self, x):\n"
        "    return torch.linear(x, self.weight, self.bias)\n");
    layer_hw_.emplace_back(path, 1);
    return m;
  }

  TestModel Finish(const std::string& name, jit::Module m,
                   std::vector<int64_t> shape = {2, 3, 16, 16}) {
    m.eval();
    return TestModel{name, m, std::move(shape), 10, layer_hw_};
  }

 private:
  std::shared_ptr<jit::CompilationUnit> cu_;
  std::vector<std::pair<std::string, int64_t>> layer_hw_;
};

// conv + bn pair named <prefix>conv<i>/<prefix>bn<i> on `parent`.
void AddConvBn(Builder& b, jit::Module& parent, const std::string& prefix,
               const std::string& conv, const std::string& bn, int64_t cin,
               int64_t cout, int64_t k, int64_t stride, int64_t hw,
               int64_t groups = 1, bool groups_as_constant = false) {
  parent.register_module(conv, b.Conv(prefix + conv, cin, cout, k, stride, hw,
                                      groups, false, groups_as_constant));
  parent.register_module(bn, b.Bn(cout));
}

}  // namespace

int64_t IndependentMacs(const TestModel& model) {
  int64_t total = 0;
  const int64_t n = model.input_shape[0];
  for (const auto& [path, hw] : model.layer_hw) {
    torch::Tensor w = AttrAt(model.module, path + ".weight").toTensor();
    int64_t per = w.numel();  // Cout * Cin/groups * kh * kw, or out * in
    total += n * per * hw;
  }
  return total;
}

void ZeroBatchNormChannels(jit::Module& module,
                           const std::vector<std::string>& bns,
                           const std::vector<int64_t>& channels) {
  torch::NoGradGuard no_grad;
  auto idx = torch::tensor(channels, torch::kLong);
  for (const std::string& bn : bns) {
    AttrAt(module, bn + ".weight").toTensor().index_fill_(0, idx, 0.0);
    AttrAt(module, bn + ".bias").toTensor().index_fill_(0, idx, 0.0);
  }
}

TestModel MakeVggNet(int seed) {
  Builder b(seed);
  auto m = b.New("VggNet");
  AddConvBn(b, m, "", "c1", "bn1", 3, 8, 3, 1, 256);
  AddConvBn(b, m, "", "c2", "bn2", 8, 16, 3, 1, 256);
  AddConvBn(b, m, "", "c3", "bn3", 16, 16, 3, 1, 64);
  AddConvBn(b, m, "", "c4", "bn4", 16, 16, 3, 1, 16);
  m.register_module("fc1", b.Linear("fc1", 64, 32));
  m.register_module("fc2", b.Linear("fc2", 32, 10));
  m.define(R"JIT(
def forward(self, x):
    y = torch.relu(self.bn1.forward(self.c1.forward(x)))
    y = torch.relu(self.bn2.forward(self.c2.forward(y)))
    y = torch.max_pool2d(y, [2, 2])
    y = torch.relu_(self.bn3.forward(self.c3.forward(y)))
    y = torch.max_pool2d(y, [2, 2])
    y = torch.relu(self.bn4.forward(self.c4.forward(y)))
    y = torch.max_pool2d(y, [2, 2])
    y = torch.flatten(y, 1)
    y = torch.relu(self.fc1.forward(y))
    y = torch.dropout(y, 0.5, self.training)
    return self.fc2.forward(y)
)JIT");
  return b.Finish("vgg", m);
}

TestModel MakeWideVggNet(int seed) {
  Builder b(seed);
  auto m = b.New("WideVggNet");
  AddConvBn(b, m, "", "c1", "bn1", 3, 32, 3, 1, 1024);
  AddConvBn(b, m, "", "c2", "bn2", 32, 64, 3, 1, 1024);
  AddConvBn(b, m, "", "c3", "bn3", 64, 64, 3, 1, 256);
  AddConvBn(b, m, "", "c4", "bn4", 64, 64, 3, 1, 64);
  m.register_module("fc1", b.Linear("fc1", 1024, 64));
  m.register_module("fc2", b.Linear("fc2", 64, 10));
  m.define(R"JIT(
def forward(self, x):
    y = torch.relu(self.bn1.forward(self.c1.forward(x)))
    y = torch.relu(self.bn2.forward(self.c2.forward(y)))
    y = torch.max_pool2d(y, [2, 2])
    y = torch.relu(self.bn3.forward(self.c3.forward(y)))
    y = torch.max_pool2d(y, [2, 2])
    y = torch.relu(self.bn4.forward(self.c4.forward(y)))
    y = torch.max_pool2d(y, [2, 2])
    y = torch.flatten(y, 1)
    y = torch.relu(self.fc1.forward(y))
    return self.fc2.forward(y)
)JIT");
  return b.Finish("wide_vgg", m, {2, 3, 32, 32});
}

namespace {

jit::Module BasicBlock(Builder& b, const std::string& path, int64_t cin,
                       int64_t cout, int64_t stride, int64_t hw) {
  auto m = b.New("BasicBlock");
  const std::string p = path + ".";
  AddConvBn(b, m, p, "conv1", "bn1", cin, cout, 3, stride, hw);
  AddConvBn(b, m, p, "conv2", "bn2", cout, cout, 3, 1, hw);
  if (stride != 1 || cin != cout) {
    AddConvBn(b, m, p, "down", "down_bn", cin, cout, 1, stride, hw);
    m.define(R"JIT(
def forward(self, x):
    y = torch.relu(self.bn1.forward(self.conv1.forward(x)))
    y = self.bn2.forward(self.conv2.forward(y))
    return torch.relu(y + self.down_bn.forward(self.down.forward(x)))
)JIT");
  } else {
    m.define(R"JIT(
def forward(self, x):
    y = torch.relu(self.bn1.forward(self.conv1.forward(x)))
    y = self.bn2.forward(self.conv2.forward(y))
    y += x
    return torch.relu(y)
)JIT");
  }
  return m;
}

jit::Module Bottleneck(Builder& b, const std::string& path, int64_t cin,
                       int64_t mid, int64_t cout, int64_t hw) {
  auto m = b.New("Bottleneck");
  const std::string p = path + ".";
  AddConvBn(b, m, p, "conv1", "bn1", cin, mid, 1, 1, hw);
  AddConvBn(b, m, p, "conv2", "bn2", mid, mid, 3, 1, hw);
  AddConvBn(b, m, p, "conv3", "bn3", mid, cout, 1, 1, hw);
  std::string shortcut = "x";
  if (cin != cout) {
    AddConvBn(b, m, p, "down", "down_bn", cin, cout, 1, 1, hw);
    shortcut = "self.down_bn.forward(self.down.forward(x))";
  }
  m.define(absl::StrCat(R"JIT(
def forward(self, x):
    y = torch.relu(self.bn1.forward(self.conv1.forward(x)))
    y = torch.relu(self.bn2.forward(self.conv2.forward(y)))
    y = self.bn3.forward(self.conv3.forward(y))
    return torch.relu(torch.add(y, )JIT",
                        shortcut, "))\n"));
  return m;
}

jit::Module InvertedResidual(Builder& b, const std::string& path, int64_t cin,
                             int64_t expand, int64_t cout, int64_t stride,
                             int64_t hw_in, bool groups_as_constant) {
  auto m = b.New("InvertedResidual");
  const std::string p = path + ".";
  const int64_t hw_out = hw_in / (stride * stride);
  AddConvBn(b, m, p, "expand", "bn1", cin, expand, 1, 1, hw_in);
  AddConvBn(b, m, p, "dw", "bn2", expand, expand, 3, stride, hw_out, expand,
            groups_as_constant);
  AddConvBn(b, m, p, "project", "bn3", expand, cout, 1, 1, hw_out);
  const bool residual = stride == 1 && cin == cout;
  m.define(absl::StrCat(R"JIT(
def forward(self, x):
    y = torch.hardtanh(self.bn1.forward(self.expand.forward(x)), 0.0, 6.0)
    y = torch.clamp(self.bn2.forward(self.dw.forward(y)), 0.0, 6.0)
    y = self.bn3.forward(self.project.forward(y))
)JIT",
                        residual ? "    return x + y\n" : "    return y\n"));
  return m;
}

}  // namespace

TestModel MakeBasicResNet(int seed) {
  Builder b(seed);
  auto m = b.New("BasicResNet");
  AddConvBn(b, m, "", "stem", "stem_bn", 3, 8, 3, 1, 256);
  m.register_module("layer1", BasicBlock(b, "layer1", 8, 8, 1, 256));
  m.register_module("layer2", BasicBlock(b, "layer2", 8, 16, 2, 64));
  m.register_module("fc", b.Linear("fc", 16, 10));
  m.define(R"JIT(
def forward(self, x):
    y = torch.relu(self.stem_bn.forward(self.stem.forward(x)))
    y = self.layer2.forward(self.layer1.forward(y))
    y = torch.adaptive_avg_pool2d(y, [1, 1])
    return self.fc.forward(torch.flatten(y, 1))
)JIT");
  return b.Finish("basic_resnet", m);
}

TestModel MakeBottleneckResNet(int seed) {
  Builder b(seed);
  auto m = b.New("BottleneckResNet");
  AddConvBn(b, m, "", "stem", "stem_bn", 3, 16, 3, 1, 256);
  m.register_module("layer1", Bottleneck(b, "layer1", 16, 8, 32, 64));
  m.register_module("layer2", Bottleneck(b, "layer2", 32, 8, 32, 64));
  m.register_module("fc", b.Linear("fc", 32, 10));
  m.define(R"JIT(
def forward(self, x):
    y = torch.relu(self.stem_bn.forward(self.stem.forward(x)))
    y = torch.max_pool2d(y, [2, 2])
    y = self.layer2.forward(self.layer1.forward(y))
    y = torch.mean(y, [2, 3])
    return self.fc.forward(y)
)JIT");
  return b.Finish("bottleneck_resnet", m);
}

TestModel MakeMobileNetV2(int seed, bool groups_as_constant) {
  Builder b(seed);
  auto m = b.New("MobileNetV2");
  AddConvBn(b, m, "", "stem", "stem_bn", 3, 8, 3, 2, 64);
  m.register_module(
      "ir1", InvertedResidual(b, "ir1", 8, 24, 8, 1, 64, groups_as_constant));
  m.register_module(
      "ir2", InvertedResidual(b, "ir2", 8, 32, 16, 2, 64, groups_as_constant));
  AddConvBn(b, m, "", "head", "head_bn", 16, 32, 1, 1, 16);
  m.register_module("fc", b.Linear("fc", 32, 10));
  m.define(R"JIT(
def forward(self, x):
    y = torch.hardtanh(self.stem_bn.forward(self.stem.forward(x)), 0.0, 6.0)
    y = self.ir2.forward(self.ir1.forward(y))
    y = torch.hardtanh(self.head_bn.forward(self.head.forward(y)), 0.0, 6.0)
    y = torch.adaptive_avg_pool2d(y, [1, 1])
    y = torch.flatten(y, 1)
    y = torch.dropout(y, 0.2, self.training)
    return self.fc.forward(y)
)JIT");
  return b.Finish(groups_as_constant ? "mobilenetv2_const" : "mobilenetv2", m);
}

TestModel MakeCatNet(int seed) {
  Builder b(seed);
  auto m = b.New("CatNet");
  AddConvBn(b, m, "", "stem", "stem_bn", 3, 8, 3, 1, 256);
  AddConvBn(b, m, "", "a", "a_bn", 8, 6, 3, 1, 256);
  AddConvBn(b, m, "", "b", "b_bn", 8, 4, 1, 1, 256);
  AddConvBn(b, m, "", "c", "c_bn", 10, 12, 3, 2, 64);
  m.register_module("fc", b.Linear("fc", 48, 10));
  m.define(R"JIT(
def forward(self, x):
    y = torch.relu(self.stem_bn.forward(self.stem.forward(x)))
    a = torch.relu(self.a_bn.forward(self.a.forward(y)))
    b = torch.relu(self.b_bn.forward(self.b.forward(y)))
    y = torch.cat([a, b], 1)
    y = torch.relu(self.c_bn.forward(self.c.forward(y)))
    y = torch.adaptive_avg_pool2d(y, [2, 2])
    y = y.view([y.size(0), 48])
    return self.fc.forward(y)
)JIT");
  return b.Finish("catnet", m);
}

TestModel MakeUnsupportedBranchNet(int seed) {
  Builder b(seed);
  auto m = b.New("FlipNet");
  AddConvBn(b, m, "", "stem", "stem_bn", 3, 8, 3, 1, 256);
  AddConvBn(b, m, "", "a", "a_bn", 8, 6, 3, 1, 256);
  AddConvBn(b, m, "", "b", "b_bn", 8, 6, 3, 1, 256);
  AddConvBn(b, m, "", "c", "c_bn", 12, 8, 3, 1, 256);
  m.register_module("fc", b.Linear("fc", 8, 10));
  m.define(R"JIT(
def forward(self, x):
    y = torch.relu(self.stem_bn.forward(self.stem.forward(x)))
    a = torch.relu(self.a_bn.forward(self.a.forward(y)))
    b = torch.relu(self.b_bn.forward(self.b.forward(y)))
    b = torch.flip(b, [1])
    y = torch.cat([a, b], 1)
    y = torch.relu(self.c_bn.forward(self.c.forward(y)))
    y = torch.adaptive_avg_pool2d(y, [1, 1])
    return self.fc.forward(torch.flatten(y, 1))
)JIT");
  return b.Finish("flipnet", m);
}

std::vector<TestModel> AllTestModels(int seed) {
  return {MakeVggNet(seed),
          MakeBasicResNet(seed),
          MakeBottleneckResNet(seed),
          MakeMobileNetV2(seed, false),
          MakeMobileNetV2(seed, true),
          MakeCatNet(seed),
          MakeUnsupportedBranchNet(seed)};
}

const ChannelGroup* GroupOf(const ChannelDependencyGraph& g,
                            const std::string& producer) {
  for (const ChannelGroup& group : g.groups()) {
    for (const std::string& p : group.producers) {
      if (p == producer) return &group;
    }
  }
  return nullptr;
}

}  // namespace pruneserve::pruning::testing
