// Pruned archives load and run in Python (Debian's python3-torch), and
// models scripted or traced in Python prune exactly. Skipped when
// /usr/bin/python3 cannot import torch.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/pruning/pruning_engine.h"
#include "tests/core/pruning/test_models.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::pruning {
namespace {

constexpr char kPython[] = "/usr/bin/python3";

bool PythonHasTorch() {
  std::string cmd = std::string(kPython) + " -c 'import torch' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// Runs a command and returns its stdout; "" and a test failure on error.
std::string RunCommand(const std::string& cmd) {
  std::string out;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  EXPECT_EQ(pclose(pipe), 0) << cmd << "\n" << out;
  return out;
}

// The same deterministic input on both sides.
torch::Tensor DeterministicInput(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return torch::linspace(-2.0, 2.0, n).sin().reshape(shape);
}

constexpr char kRunScript[] = R"PY(
import sys, torch
path, shape = sys.argv[1], [int(s) for s in sys.argv[2].split(",")]
m = torch.jit.load(path)
m.eval()
n = 1
for d in shape: n *= d
x = torch.linspace(-2.0, 2.0, n).sin().reshape(shape)
with torch.no_grad():
    y = m(x)
print(" ".join("%.9g" % v for v in y.flatten().tolist()))
# One training step must work too.
m.train()
loss = m(x).pow(2).mean()
loss.backward()
print(sum(1 for p in m.parameters() if p.grad is not None))
)PY";

constexpr char kBuildScript[] = R"PY(
import sys, torch, torch.nn as nn
out = sys.argv[1]
torch.manual_seed(0)

class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + x)

class InvRes(nn.Module):
    def __init__(self, c, e):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(c, e, 1, bias=False), nn.BatchNorm2d(e), nn.ReLU6(inplace=True),
            nn.Conv2d(e, e, 3, padding=1, groups=e, bias=False), nn.BatchNorm2d(e),
            nn.ReLU6(inplace=True),
            nn.Conv2d(e, c, 1, bias=False), nn.BatchNorm2d(c))
    def forward(self, x):
        return x + self.conv(x)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.block = Block(8)
        self.ir = InvRes(8, 24)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)
    def forward(self, x):
        y = self.ir(self.block(self.stem(x)))
        return self.fc(torch.flatten(self.pool(y), 1))

net = Net()
for m in net.modules():
    if isinstance(m, nn.BatchNorm2d):
        m.weight.data.uniform_(0.5, 1.5); m.bias.data.normal_(0, 0.2)
        m.running_mean.normal_(0, 0.2); m.running_var.uniform_(0.5, 1.5)
net.eval()
torch.jit.script(net).save(out + "/scripted.pt")
torch.jit.trace(net, torch.randn(2, 3, 16, 16)).save(out + "/traced.pt")
)PY";

std::vector<double> ParseFloats(const std::string& line) {
  std::vector<double> out;
  std::istringstream in(line);
  double v;
  while (in >> v) out.push_back(v);
  return out;
}

TEST(PythonInteropTest, PrunedArchiveLoadsInPythonWithSameOutputs) {
  if (!PythonHasTorch()) GTEST_SKIP() << "/usr/bin/python3 has no torch";
  pruneserve::testing::TempDir dir;
  const std::string script = dir.Join("run.py");
  std::ofstream(script) << kRunScript;
  for (testing::TestModel m :
       {testing::MakeMobileNetV2(1, true), testing::MakeCatNet(1),
        testing::MakeBottleneckResNet(1)}) {
    SCOPED_TRACE(m.name);
    PruningOptions options;
    options.policy.kind = PolicyKind::kUniform;
    options.policy.ratio = 0.5;
    auto result = PruneModule(m.module, m.input_shape, options);
    ASSERT_TRUE(result.ok()) << result.status();
    const std::string path = dir.Join(m.name + ".pt");
    result->module.save(path);
    std::string shape;
    for (int64_t d : m.input_shape) {
      shape += (shape.empty() ? "" : ",") + std::to_string(d);
    }
    std::string out = RunCommand(std::string(kPython) + " " + script + " " +
                                 path + " " + shape);
    std::istringstream lines(out);
    std::string values, grads;
    std::getline(lines, values);
    std::getline(lines, grads);
    std::vector<double> py = ParseFloats(values);
    torch::NoGradGuard no_grad;
    torch::jit::Module pruned = result->module;
    pruned.eval();
    torch::Tensor cpp = pruned.forward({DeterministicInput(m.input_shape)})
                            .toTensor()
                            .flatten()
                            .to(torch::kDouble);
    ASSERT_EQ(static_cast<int64_t>(py.size()), cpp.numel());
    for (size_t i = 0; i < py.size(); ++i) {
      EXPECT_NEAR(py[i], cpp[i].item<double>(), 1e-5);
    }
    int64_t params = 0;
    for (const auto& p : pruned.parameters()) params += p.numel() > 0;
    EXPECT_EQ(std::stoll(grads), params);
  }
}

TEST(PythonInteropTest, ScriptedAndTracedNnModulesPruneExactly) {
  if (!PythonHasTorch()) GTEST_SKIP() << "/usr/bin/python3 has no torch";
  pruneserve::testing::TempDir dir;
  const std::string script = dir.Join("build.py");
  std::ofstream(script) << kBuildScript;
  RunCommand(std::string(kPython) + " " + script + " " + dir.path());
  for (const char* name : {"scripted", "traced"}) {
    SCOPED_TRACE(name);
    torch::jit::Module m =
        torch::jit::load(dir.Join(std::string(name) + ".pt"));
    m.eval();
    testing::ZeroBatchNormChannels(m, {"block.bn1"}, {1, 6});
    testing::ZeroBatchNormChannels(m, {"ir.conv.1", "ir.conv.4"}, {0, 9, 20});
    PruningOptions options;
    options.policy.kind = PolicyKind::kThreshold;
    options.policy.threshold = 0.0;
    auto result = PruneModule(m, {2, 3, 16, 16}, options);
    ASSERT_TRUE(result.ok()) << result.status();
    int64_t removed = 0;
    for (const auto& l : result->report.layers()) {
      removed += l.channels_before() - l.channels_after();
      if (l.name() == "ir.conv.0") EXPECT_EQ(l.channels_after(), 21);
      if (l.name() == "block.conv1") EXPECT_EQ(l.channels_after(), 6);
    }
    EXPECT_EQ(removed, 5);
    torch::NoGradGuard no_grad;
    torch::Tensor x = torch::randn({2, 3, 16, 16});
    torch::jit::Module pruned = result->module;
    pruned.eval();
    torch::Tensor want = m.forward({x}).toTensor();
    torch::Tensor got = pruned.forward({x}).toTensor();
    EXPECT_LT((want - got).abs().max().item<double>(), 1e-5);
    // The pruned archive also runs in Python.
    const std::string path = dir.Join(std::string(name) + "_pruned.pt");
    pruned.save(path);
    std::ofstream(dir.Join("run.py")) << kRunScript;
    std::string out =
        RunCommand(std::string(kPython) + " " + dir.Join("run.py") + " " +
                   path + " 2,3,16,16");
    EXPECT_EQ(ParseFloats(out.substr(0, out.find('\n'))).size(), 20u);
  }
}

}  // namespace
}  // namespace pruneserve::pruning
