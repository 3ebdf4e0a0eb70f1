// Tests of the model zoo: every architecture builds and runs on Fashion-MNIST
// and CIFAR shaped inputs, parameter counts match closed-form formulas and
// torchvision-derived reference counts, the module tree has the attributes
// and the plain-op graph the pruning engine relies on, archives round-trip
// (also through Python's torch.jit.load when available), and BN honours
// train()/eval().
#include "core/models/model_zoo.h"

#include <torch/csrc/jit/passes/inliner.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::models {
namespace {

using ::testing::HasSubstr;

torch::jit::Module Build(const ZooOptions& options) {
  auto model = BuildZooModel(options);
  EXPECT_TRUE(model.ok()) << model.status();
  return *std::move(model);
}

ZooOptions Opts(const std::string& arch) {
  ZooOptions o;
  o.arch = arch;
  return o;
}

int64_t CountParameters(const torch::jit::Module& m) {
  int64_t n = 0;
  for (const at::Tensor& p : m.parameters()) n += p.numel();
  return n;
}

std::vector<torch::jit::Named<at::Tensor>> NamedParameters(
    const torch::jit::Module& m) {
  std::vector<torch::jit::Named<at::Tensor>> out;
  for (const auto& p : m.named_parameters()) out.push_back(p);
  return out;
}

torch::Tensor Forward(torch::jit::Module& m, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  return m.forward({x}).toTensor();
}

// Independent closed forms for the layers the zoo uses.
int64_t Conv(int64_t in, int64_t out, int64_t k, int64_t groups = 1) {
  return out * (in / groups) * k * k;
}
int64_t Bn(int64_t c) { return 2 * c; }
int64_t Fc(int64_t in, int64_t out) { return in * out + out; }

TEST(ModelZooTest, NamesIncludeThePaperModels) {
  const std::vector<std::string> names = ZooModelNames();
  for (const char* expected :
       {"vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn", "resnet20", "resnet56",
        "resnet110", "resnet18", "resnet50", "resnet101", "mobilenet_v2"}) {
    EXPECT_THAT(names, ::testing::Contains(expected));
  }
}

TEST(ModelZooTest, UnknownArchListsKnownNames) {
  auto model = BuildZooModel(Opts("resnet9000"));
  ASSERT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("resnet9000"));
  EXPECT_THAT(model.status().message(), HasSubstr("vgg13_bn"));
  EXPECT_THAT(model.status().message(), HasSubstr("mobilenet_v2"));
}

TEST(ModelZooTest, RejectsBadOptions) {
  ZooOptions o = Opts("resnet20");
  o.in_channels = 0;
  EXPECT_EQ(BuildZooModel(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Opts("resnet20");
  o.num_classes = 0;
  EXPECT_EQ(BuildZooModel(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Opts("resnet20");
  o.width_multiplier = 0.0;
  auto s = BuildZooModel(o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("width_multiplier"));
  o = Opts("vgg13_bn");
  o.input_size = 2;
  EXPECT_EQ(BuildZooModel(o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ModelZooTest, ArchIsCaseInsensitive) {
  EXPECT_TRUE(BuildZooModel(Opts("ResNet20")).ok());
}

class EveryModelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryModelTest, RunsOnFashionMnistAndCifarShapes) {
  ZooOptions gray = Opts(GetParam());
  gray.in_channels = 1;
  gray.input_size = 28;
  torch::jit::Module m1 = Build(gray);
  m1.eval();
  torch::Tensor y1 = Forward(m1, torch::randn({2, 1, 28, 28}));
  EXPECT_EQ(y1.sizes(), (std::vector<int64_t>{2, 10}));
  EXPECT_TRUE(torch::isfinite(y1).all().item<bool>());

  ZooOptions color = Opts(GetParam());
  color.num_classes = 100;
  torch::jit::Module m3 = Build(color);
  m3.eval();
  torch::Tensor y3 = Forward(m3, torch::randn({2, 3, 32, 32}));
  EXPECT_EQ(y3.sizes(), (std::vector<int64_t>{2, 100}));
  EXPECT_TRUE(torch::isfinite(y3).all().item<bool>());
}

TEST_P(EveryModelTest, ForwardGraphUsesOnlyPlainOps) {
  ZooOptions o = Opts(GetParam());
  o.width_multiplier = 0.25;
  torch::jit::Module m = Build(o);
  auto graph = m.get_method("forward").graph()->copy();
  torch::jit::Inline(*graph);
  const std::set<std::string> allowed = {"aten::conv2d",
                                         "aten::batch_norm",
                                         "aten::relu",
                                         "aten::max_pool2d",
                                         "aten::adaptive_avg_pool2d",
                                         "aten::add",
                                         "aten::flatten",
                                         "aten::linear",
                                         "aten::dropout"};
  int convs = 0;
  for (torch::jit::Node* node : graph->nodes()) {
    const std::string kind = node->kind().toQualString();
    if (kind.rfind("prim::", 0) == 0) continue;
    EXPECT_TRUE(allowed.count(kind)) << GetParam() << " uses " << kind;
    if (kind == "aten::conv2d") ++convs;
  }
  EXPECT_GT(convs, 7);
}

TEST_P(EveryModelTest, SameSeedSameWeights) {
  ZooOptions o = Opts(GetParam());
  o.width_multiplier = 0.25;
  o.seed = 7;
  torch::jit::Module a = Build(o);
  torch::jit::Module b = Build(o);
  o.seed = 8;
  torch::jit::Module c = Build(o);
  auto va = NamedParameters(a);
  auto vb = NamedParameters(b);
  auto vc = NamedParameters(c);
  ASSERT_EQ(va.size(), vb.size());
  bool any_differs = false;
  for (size_t i = 0; i < va.size(); ++i) {
    EXPECT_EQ(va[i].name, vb[i].name);
    EXPECT_TRUE(torch::equal(va[i].value, vb[i].value)) << va[i].name;
    EXPECT_TRUE(va[i].value.requires_grad()) << va[i].name;
    if (!torch::equal(va[i].value, vc[i].value)) any_differs = true;
  }
  EXPECT_TRUE(any_differs);
}

INSTANTIATE_TEST_SUITE_P(Zoo, EveryModelTest,
                         ::testing::ValuesIn(ZooModelNames()),
                         [](const auto& info) { return info.param; });

TEST(ParameterCountTest, Vgg13BnMatchesFormula) {
  const std::vector<int64_t> cfg = {64,  64,  128, 128, 256,
                                    256, 512, 512, 512, 512};
  int64_t expected = 0;
  int64_t in = 3;
  for (int64_t c : cfg) {
    expected += Conv(in, c, 3) + Bn(c);
    in = c;
  }
  expected += Fc(512, 10);
  EXPECT_EQ(expected, 9413066);  // the formula itself, evaluated by hand
  EXPECT_EQ(CountParameters(Build(Opts("vgg13_bn"))), expected);
  // 28x28 skips a pool but has the same parameters.
  ZooOptions gray = Opts("vgg13_bn");
  gray.in_channels = 1;
  gray.input_size = 28;
  EXPECT_EQ(CountParameters(Build(gray)), expected - Conv(2, 64, 3));
}

int64_t CifarResNetFormula(int64_t n, int64_t in_channels, int64_t classes) {
  int64_t total = Conv(in_channels, 16, 3) + Bn(16);
  int64_t in = 16;
  for (int64_t c : {16, 32, 64}) {
    for (int64_t b = 0; b < n; ++b) {
      total += Conv(in, c, 3) + Bn(c) + Conv(c, c, 3) + Bn(c);
      if (in != c) total += Conv(in, c, 1) + Bn(c);  // projection shortcut
      in = c;
    }
  }
  return total + Fc(64, classes);
}

TEST(ParameterCountTest, CifarResNetsMatchFormula) {
  // He et al. report 0.85M for ResNet-56 with identity/zero-pad shortcuts
  // (853,018); the two 1x1 projections add 576 + 2,176.
  EXPECT_EQ(CifarResNetFormula(9, 3, 10), 853018 + 576 + 2176);
  EXPECT_EQ(CountParameters(Build(Opts("resnet56"))),
            CifarResNetFormula(9, 3, 10));
  EXPECT_EQ(CountParameters(Build(Opts("resnet20"))),
            CifarResNetFormula(3, 3, 10));
  EXPECT_EQ(CountParameters(Build(Opts("resnet110"))),
            CifarResNetFormula(18, 3, 10));
}

int64_t BottleneckResNetFormula(const std::vector<int64_t>& blocks,
                                int64_t classes) {
  int64_t total = Conv(3, 64, 3) + Bn(64);
  int64_t in = 64;
  for (size_t s = 0; s < blocks.size(); ++s) {
    const int64_t p = int64_t{64} << s;
    for (int64_t b = 0; b < blocks[s]; ++b) {
      total += Conv(in, p, 1) + Bn(p) + Conv(p, p, 3) + Bn(p) +
               Conv(p, 4 * p, 1) + Bn(4 * p);
      if (b == 0) total += Conv(in, 4 * p, 1) + Bn(4 * p);
      in = 4 * p;
    }
  }
  return total + Fc(2048, classes);
}

// torchvision's ImageNet counts, adjusted for the 3x3 stem (-9408 + 1728) and
// a 10-class fc (-2,049,000 + 20,490 for bottlenecks, -513,000 + 5,130 for
// resnet18).
TEST(ParameterCountTest, ResNet50And101MatchTorchvisionDerivedCounts) {
  const int64_t resnet50 = 25557032 - 9408 + 1728 - 2049000 + 20490;
  const int64_t resnet101 = 44549160 - 9408 + 1728 - 2049000 + 20490;
  EXPECT_EQ(BottleneckResNetFormula({3, 4, 6, 3}, 10), resnet50);
  EXPECT_EQ(BottleneckResNetFormula({3, 4, 23, 3}, 10), resnet101);
  EXPECT_EQ(CountParameters(Build(Opts("resnet50"))), resnet50);
  EXPECT_EQ(CountParameters(Build(Opts("resnet101"))), resnet101);
  ZooOptions cifar100 = Opts("resnet101");
  cifar100.num_classes = 100;
  EXPECT_EQ(CountParameters(Build(cifar100)),
            BottleneckResNetFormula({3, 4, 23, 3}, 100));
}

TEST(ParameterCountTest, ResNet18AndMobileNetV2MatchTorchvisionDerivedCounts) {
  EXPECT_EQ(CountParameters(Build(Opts("resnet18"))),
            11689512 - 9408 + 1728 - 513000 + 5130);
  // torchvision mobilenet_v2: 3,504,872 with a 1000-class head.
  EXPECT_EQ(CountParameters(Build(Opts("mobilenet_v2"))),
            3504872 - 1281000 + 12810);
}

TEST(ParameterCountTest, WidthMultiplierScalesChannels) {
  ZooOptions half = Opts("resnet56");
  half.width_multiplier = 0.5;
  torch::jit::Module m = Build(half);
  EXPECT_EQ(m.attr("conv1").toModule().attr("weight").toTensor().size(0), 8);
  EXPECT_EQ(m.attr("fc").toModule().attr("weight").toTensor().size(1), 32);
  ZooOptions narrow = Opts("mobilenet_v2");
  narrow.width_multiplier = 0.5;
  EXPECT_LT(CountParameters(Build(narrow)),
            CountParameters(Build(Opts("mobilenet_v2"))) / 2);
}

TEST(ModuleTreeTest, ConvAndBnLookLikeScriptedTorchModules) {
  torch::jit::Module m = Build(Opts("resnet50"));
  torch::jit::Module conv =
      m.attr("layer2").toModule().attr("0").toModule().attr("conv2").toModule();
  EXPECT_EQ(conv.attr("in_channels").toInt(), 128);
  EXPECT_EQ(conv.attr("out_channels").toInt(), 128);
  EXPECT_EQ(conv.attr("stride").toInt(), 2);
  EXPECT_EQ(conv.attr("padding").toInt(), 1);
  EXPECT_EQ(conv.attr("groups").toInt(), 1);
  EXPECT_TRUE(conv.attr("bias").isNone());
  EXPECT_EQ(conv.attr("weight").toTensor().sizes(),
            (std::vector<int64_t>{128, 128, 3, 3}));

  std::set<std::string> names;
  for (const auto& p : m.named_parameters()) names.insert(p.name);
  for (const auto& b : m.named_buffers()) names.insert(b.name);
  for (const char* key :
       {"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean",
        "bn1.running_var", "bn1.num_batches_tracked", "layer1.0.conv1.weight",
        "layer1.0.downsample.0.weight", "layer1.0.downsample.1.weight",
        "layer4.2.bn3.weight", "fc.weight", "fc.bias"}) {
    EXPECT_TRUE(names.count(key)) << key;
  }
  torch::jit::Module bn = m.attr("bn1").toModule();
  EXPECT_EQ(bn.attr("num_features").toInt(), 64);
  EXPECT_TRUE(torch::equal(bn.attr("weight").toTensor(), torch::ones({64})));
  EXPECT_TRUE(torch::equal(bn.attr("bias").toTensor(), torch::zeros({64})));
}

TEST(ModuleTreeTest, MobileNetDepthwiseConvsAreGrouped) {
  torch::jit::Module m = Build(Opts("mobilenet_v2"));
  torch::jit::Module block = m.attr("features").toModule().attr("2").toModule();
  torch::jit::Module dw =
      block.attr("depthwise").toModule().attr("conv").toModule();
  EXPECT_EQ(dw.attr("groups").toInt(), 96);
  EXPECT_EQ(dw.attr("weight").toTensor().sizes(),
            (std::vector<int64_t>{96, 1, 3, 3}));
}

TEST(TrainEvalTest, BatchNormFollowsTrainingFlag) {
  ZooOptions o = Opts("resnet20");
  torch::jit::Module m = Build(o);
  torch::manual_seed(1);
  torch::Tensor x = torch::randn({4, 3, 32, 32}) * 3 + 1;
  torch::jit::Module bn1 = m.attr("bn1").toModule();

  m.eval();
  torch::Tensor eval_out = Forward(m, x);
  EXPECT_TRUE(
      torch::equal(bn1.attr("running_mean").toTensor(), torch::zeros({16})));
  EXPECT_FALSE(bn1.attr("training").toBool());

  m.train();
  torch::Tensor train_out = Forward(m, x);
  EXPECT_TRUE(bn1.attr("training").toBool());
  // Batch statistics differ from the initial running ones (0 mean, 1 var),
  // and the running statistics moved by momentum 0.1.
  EXPECT_FALSE(torch::allclose(train_out, eval_out, 1e-3, 1e-3));
  EXPECT_GT(bn1.attr("running_mean").toTensor().abs().sum().item<double>(),
            0.0);

  m.eval();
  torch::Tensor mean_before = bn1.attr("running_mean").toTensor().clone();
  Forward(m, x);
  EXPECT_TRUE(torch::equal(bn1.attr("running_mean").toTensor(), mean_before));
}

TEST(SerializationTest, SaveLoadRoundTripGivesSameOutput) {
  testing::TempDir dir;
  for (const char* arch : {"vgg13_bn", "resnet56", "mobilenet_v2"}) {
    ZooOptions o = Opts(arch);
    o.in_channels = 1;
    o.input_size = 28;
    torch::jit::Module m = Build(o);
    m.eval();
    const std::string path = dir.Join(absl::StrCat(arch, ".pt"));
    m.save(path);
    torch::jit::Module loaded = torch::jit::load(path);
    loaded.eval();
    torch::Tensor x = torch::randn({3, 1, 28, 28});
    EXPECT_TRUE(torch::equal(Forward(m, x), Forward(loaded, x))) << arch;
    EXPECT_EQ(CountParameters(loaded), CountParameters(m)) << arch;
  }
}

bool PythonTorchAvailable() {
  return std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
}

std::string RunCommand(const std::string& cmd, int* exit_code) {
  std::string out;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) {
    *exit_code = -1;
    return out;
  }
  char buf[512];
  while (fgets(buf, sizeof(buf), pipe) != nullptr) out += buf;
  const int status = pclose(pipe);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

TEST(SerializationTest, PythonLoadsArchiveAndAgrees) {
  if (!PythonTorchAvailable()) {
    GTEST_SKIP() << "/usr/bin/python3 cannot import torch";
  }
  testing::TempDir dir;
  for (const char* arch : {"resnet50", "vgg13_bn", "mobilenet_v2"}) {
    ZooOptions o = Opts(arch);
    o.width_multiplier = 0.5;
    torch::jit::Module m = Build(o);
    m.eval();
    torch::Tensor x = torch::randn({2, 3, 32, 32});
    torch::Tensor y = Forward(m, x);
    const std::string model_path = dir.Join("model.pt");
    const std::string io_path = dir.Join("io.pt");
    m.save(model_path);
    std::vector<char> bytes = torch::pickle_save(c10::IValue(
        c10::ivalue::Tuple::create({c10::IValue(x), c10::IValue(y)})));
    FILE* f = std::fopen(io_path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);

    const std::string script = dir.Join("check.py");
    f = std::fopen(script.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(R"PY(
import sys, torch
m = torch.jit.load(sys.argv[1])
x, y = torch.load(sys.argv[2])
m.eval()
with torch.no_grad():
    diff = (m(x) - y).abs().max().item()
m.train()
assert all(mod.training for mod in m.modules())
names = [n for n, _ in m.named_parameters()]
print("diff", diff, "params", sum(p.numel() for p in m.parameters()),
      "first", names[0])
sys.exit(0 if diff < 1e-5 else 1)
)PY",
               f);
    std::fclose(f);
    int code = 0;
    const std::string out =
        RunCommand(absl::StrCat("/usr/bin/python3 ", script, " ", model_path,
                                " ", io_path, " 2>&1"),
                   &code);
    EXPECT_EQ(code, 0) << arch << ": " << out;
    EXPECT_THAT(out, HasSubstr(absl::StrCat("params ", CountParameters(m))))
        << out;
  }
}

}  // namespace
}  // namespace pruneserve::models
