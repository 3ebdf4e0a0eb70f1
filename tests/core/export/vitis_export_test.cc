// The export directory: its files, their manifest, the calibration data, and
// that Python (Debian's python3-torch) reads state_dict.pt and rebuilds the
// narrow nn.Module with deploy/vitis/quantize_and_export.py. Python checks are
// skipped when /usr/bin/python3 cannot import torch.
#include "core/export/vitis_export.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/export/external_compiler.h"
#include "core/models/model_zoo.h"
#include "core/pruning/pruning_engine.h"
#include "core/util/cancellation_token.h"
#include "core/util/sha256.h"
#include "nlohmann/json.hpp"
#include "tests/testing/in_memory_batch_source.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::vitis {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using pruneserve::testing::InMemoryBatchSource;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kPython[] = "/usr/bin/python3";

bool PythonHasTorch() {
  return std::system(
             "/usr/bin/python3 -c 'import torch, numpy' >/dev/null "
             "2>&1") == 0;
}

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

CommandResult RunShell(const std::string& cmd) {
  CommandResult r;
  FILE* pipe = popen((cmd + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) r.output.append(buf, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::string SourceDir() {
  const char* dir = std::getenv("PRUNESERVE_SOURCE_DIR");
  return dir != nullptr ? dir : PRUNESERVE_TEST_SOURCE_DIR;
}

torch::jit::Module SmallVgg() {
  models::ZooOptions options;
  options.arch = "vgg11_bn";
  options.in_channels = 1;
  options.input_size = 28;
  options.width_multiplier = 0.125;
  auto m = models::BuildZooModel(options);
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

// Deterministic, distinct images.
torch::Tensor Images(int64_t n) {
  return torch::linspace(-1.0, 1.0, n * 28 * 28).sin().reshape({n, 1, 28, 28});
}

VitisExportOptions Options(const std::string& dir) {
  VitisExportOptions options;
  options.output_dir = dir;
  options.model_name = "vgg_small";
  options.input_shape = {1, 1, 28, 28};
  options.calibration_images = 10;
  return options;
}

TEST(VitisExportTest, WritesEveryFileWithAMatchingManifest) {
  pruneserve::testing::TempDir tmp;
  const torch::Tensor images = Images(23);
  auto source = InMemoryBatchSource::InOrder(images, 4);
  VitisExportOptions options = Options(tmp.Join("export"));
  options.calibration_epoch = 3;
  options.quantization_report = std::string(
      "\x0a\x03"
      "abc",
      5);
  options.python_factory = "mymodels:build";
  auto result = ExportForVitis(SmallVgg(), &source, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(source.last_epoch(), 3);
  EXPECT_EQ(result->calibration_images, 10);
  EXPECT_THAT(result->output_shape, ElementsAre(1, 10));
  EXPECT_EQ(result->layers, 17);
  EXPECT_FALSE(fs::exists(tmp.Join("export.partial")));

  std::vector<std::string> names;
  for (const ExportedFile& f : result->files) names.push_back(f.name);
  EXPECT_THAT(names,
              ElementsAre("model.pt", "state_dict.pt", "channel_config.json",
                          "calibration_images.npy", "calibration_labels.npy",
                          "quantization_report.binpb"));
  const json manifest = json::parse(ReadAll(tmp.Join("export/manifest.json")));
  EXPECT_EQ(manifest["format"], "pruneserve.vitis_export.v1");
  EXPECT_EQ(manifest["model_name"], "vgg_small");
  EXPECT_EQ(manifest["input_shape"], json({1, 1, 28, 28}));
  EXPECT_EQ(manifest["output_shape"], json({1, 10}));
  EXPECT_EQ(manifest["calibration"]["images"], 10);
  EXPECT_EQ(manifest["quantization_report"], "quantization_report.binpb");
  EXPECT_EQ(manifest["python_factory"], "mymodels:build");
  ASSERT_EQ(manifest["files"].size(), 6u);
  for (const json& f : manifest["files"]) {
    const std::string bytes =
        ReadAll(tmp.Join("export/" + f["name"].get<std::string>()));
    EXPECT_EQ(f["sha256"], Sha256Hex(bytes)) << f["name"];
    EXPECT_EQ(f["size_bytes"], static_cast<int64_t>(bytes.size()));
  }
  EXPECT_EQ(ReadAll(tmp.Join("export/quantization_report.binpb")),
            options.quantization_report);

  // The calibration images are the first ten, bit for bit, after the
  // 128-byte .npy header; labels follow the source.
  const std::string npy = ReadAll(tmp.Join("export/calibration_images.npy"));
  ASSERT_EQ(npy.size(), 128u + 10 * 28 * 28 * 4);
  EXPECT_THAT(npy.substr(10, 80), HasSubstr("'shape': (10, 1, 28, 28)"));
  const torch::Tensor first = images.narrow(0, 0, 10).contiguous();
  EXPECT_EQ(
      std::memcmp(npy.data() + 128, first.data_ptr<float>(), 10 * 28 * 28 * 4),
      0);
  const std::string labels = ReadAll(tmp.Join("export/calibration_labels.npy"));
  ASSERT_EQ(labels.size(), 128u + 10 * 8);
  int64_t label9;
  std::memcpy(&label9, labels.data() + 128 + 9 * 8, 8);
  EXPECT_EQ(label9, 9);

  // model.pt reloads and gives the same output as the original.
  torch::jit::Module reloaded = torch::jit::load(tmp.Join("export/model.pt"));
  reloaded.eval();
  torch::jit::Module original = SmallVgg();
  original.eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = images.narrow(0, 0, 2);
  EXPECT_TRUE(torch::allclose(reloaded.forward({x}).toTensor(),
                              original.forward({x}).toTensor()));
}

TEST(VitisExportTest, ShortSourceGivesFewerImages) {
  pruneserve::testing::TempDir tmp;
  auto source = InMemoryBatchSource::InOrder(Images(7), 4);
  VitisExportOptions options = Options(tmp.Join("export"));
  options.calibration_images = 100;
  auto result = ExportForVitis(SmallVgg(), &source, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->calibration_images, 7);
  // No report given: none written, and the manifest says so.
  EXPECT_FALSE(fs::exists(tmp.Join("export/quantization_report.binpb")));
  const json manifest = json::parse(ReadAll(tmp.Join("export/manifest.json")));
  EXPECT_TRUE(manifest["quantization_report"].is_null());
  EXPECT_EQ(manifest["files"].size(), 5u);
}

TEST(VitisExportTest, ErrorsLeaveNothingBehind) {
  pruneserve::testing::TempDir tmp;
  const std::string out = tmp.Join("export");
  {
    // Calibration images of another size.
    auto source = InMemoryBatchSource::InOrder(torch::zeros({4, 1, 32, 32}), 4);
    auto r = ExportForVitis(SmallVgg(), &source, Options(out));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("[4,1,32,32]"));
  }
  {
    auto source = InMemoryBatchSource::InOrder(torch::zeros({0, 1, 28, 28}), 4);
    auto r = ExportForVitis(SmallVgg(), &source, Options(out));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  }
  {
    auto source = InMemoryBatchSource::InOrder(Images(4), 4);
    VitisExportOptions options = Options(out);
    options.input_shape = {1, 3, 28, 28};  // the model takes one channel
    auto r = ExportForVitis(SmallVgg(), &source, options);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("[1,3,28,28]"));
  }
  {
    auto source = InMemoryBatchSource::InOrder(Images(4), 4);
    util::CancellationToken cancel;
    cancel.Cancel();
    auto r = ExportForVitis(SmallVgg(), &source, Options(out), &cancel);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
  }
  {
    auto source = InMemoryBatchSource::InOrder(Images(4), 4);
    VitisExportOptions options = Options(out);
    options.model_name = "../evil";
    EXPECT_EQ(ExportForVitis(SmallVgg(), &source, options).status().code(),
              absl::StatusCode::kInvalidArgument);
    options = Options(out);
    options.input_shape = {1, 28, 28};
    EXPECT_EQ(ExportForVitis(SmallVgg(), &source, options).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ExportForVitis(SmallVgg(), nullptr, Options(out)).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".partial"));

  fs::create_directories(out);
  std::ofstream(out + "/keep") << "x";
  auto source = InMemoryBatchSource::InOrder(Images(4), 4);
  auto r = ExportForVitis(SmallVgg(), &source, Options(out));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadAll(out + "/keep"), "x");
}

TEST(VitisExportTest, PythonLoadsTheStateDict) {
  if (!PythonHasTorch()) GTEST_SKIP() << "/usr/bin/python3 cannot import torch";
  pruneserve::testing::TempDir tmp;
  auto source = InMemoryBatchSource::InOrder(Images(4), 4);
  ASSERT_TRUE(ExportForVitis(SmallVgg(), &source, Options(tmp.Join("e"))).ok());
  const std::string script = tmp.Join("check.py");
  std::ofstream(script) << R"PY(
import sys, torch, numpy
d = sys.argv[1]
state = torch.load(d + "/state_dict.pt")
ref = torch.jit.load(d + "/model.pt").state_dict()
assert isinstance(state, dict), type(state)
assert set(state) == set(ref), sorted(set(state) ^ set(ref))
for k, v in ref.items():
    assert torch.equal(state[k], v), k
images = numpy.load(d + "/calibration_images.npy")
labels = numpy.load(d + "/calibration_labels.npy")
assert images.shape == (4, 1, 28, 28) and images.dtype == numpy.float32
assert labels.tolist() == [0, 1, 2, 3], labels
print(len(state))
)PY";
  const CommandResult r =
      RunShell(std::string(kPython) + " " + script + " " + tmp.Join("e"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // 8 convs (weight), 8 BNs (5 tensors each), classifier (2).
  EXPECT_EQ(r.output, "50\n");
}

// A dense architecture defined in Python, scripted by Python, pruned by
// PruneServe and rebuilt narrow by deploy/vitis/quantize_and_export.py.
constexpr char kTestNet[] = R"PY(
import sys, torch
from torch import nn

class Net(nn.Module):
    def __init__(self, stride=2):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8),
            nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 12, 1), nn.BatchNorm2d(12), nn.ReLU())
        self.classifier = nn.Linear(12, 10)

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.classifier(x)

def build():
    torch.manual_seed(0)
    m = Net()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.weight.data.uniform_(0.2, 1.0)
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
    return m

def build_wrong_stride():
    return Net(stride=1)

if __name__ == "__main__":
    torch.jit.script(build().eval()).save(sys.argv[1])
)PY";

TEST(VitisExportTest, DeployScriptRebuildsTheNarrowModel) {
  if (!PythonHasTorch()) GTEST_SKIP() << "/usr/bin/python3 cannot import torch";
  pruneserve::testing::TempDir tmp;
  std::ofstream(tmp.Join("testnet.py")) << kTestNet;
  CommandResult r =
      RunShell(std::string(kPython) + " " + tmp.Join("testnet.py") + " " +
               tmp.Join("dense.pt"));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  pruning::PruningOptions prune;
  prune.policy.kind = pruning::PolicyKind::kUniform;
  prune.policy.ratio = 0.5;
  auto pruned = pruning::PruneModule(torch::jit::load(tmp.Join("dense.pt")),
                                     {1, 1, 28, 28}, prune);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  auto source = InMemoryBatchSource::InOrder(Images(6), 4);
  VitisExportOptions options = Options(tmp.Join("export"));
  options.python_factory = "testnet:build";
  auto exported = ExportForVitis(pruned->module, &source, options);
  ASSERT_TRUE(exported.ok()) << exported.status();
  const json layers =
      json::parse(ReadAll(tmp.Join("export/channel_config.json")))["layers"];
  ASSERT_EQ(layers.size(), 7u);
  EXPECT_EQ(layers[0]["path"], "features.0");
  EXPECT_EQ(layers[0]["out_channels"], 4);  // 8 halved
  EXPECT_EQ(layers[2]["stride"], json({2, 2}));
  EXPECT_EQ(layers[6]["in_features"], 6);  // 12 halved

  const std::string script =
      SourceDir() + "/deploy/vitis/quantize_and_export.py";
  const std::string base = "PYTHONPATH=" + tmp.path() + " " + kPython + " " +
                           script + " --export-dir " + tmp.Join("export") +
                           " --output-dir " + tmp.Join("q") + " --rebuild-only";
  r = RunShell(base);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("rebuilt model matches model.pt"));

  // An architecture that does not fit the export is named, not guessed.
  r = RunShell(base + " --arch testnet:build_wrong_stride");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("features.4: stride"));

  // A tampered file fails the manifest check.
  std::ofstream(tmp.Join("export/channel_config.json"), std::ios::app) << " ";
  r = RunShell(base);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("sha256"));
}

// Stand-ins for the Vitis AI tools, so compile_xmodel.sh and the quantize
// half of quantize_and_export.py run end to end: a pytorch_nndct whose
// torch_quantizer records the calls it gets, and a vai_c_xir that copies the
// quantized xmodel.
constexpr char kFakeNndct[] = R"PY(
import os, torch

class torch_quantizer:
    def __init__(self, quant_mode, module, input_args=None, state_dict_file=None,
                 output_dir="quantize_result", bitwidth=8, device=None,
                 quant_config_file=None, target=None):
        self.mode, self.module, self.dir = quant_mode, module, output_dir
        os.makedirs(output_dir, exist_ok=True)
        self._log("init %s %s" % (quant_mode, list(input_args[0].shape)))
        outer = self

        class Quantized(torch.nn.Module):
            def forward(self, x):
                outer._log("forward %d" % x.shape[0])
                return outer.module(x)
        self.quant_model = Quantized()

    def _log(self, line):
        with open(os.path.join(self.dir, "calls.txt"), "a") as f:
            f.write(line + "\n")

    def export_quant_config(self):
        assert self.mode == "calib"
        self._log("export_quant_config")

    def export_xmodel(self, output_dir="quantize_result", deploy_check=False):
        assert self.mode == "test"
        self._log("export_xmodel")
        name = type(self.module).__name__ + "_int.xmodel"
        with open(os.path.join(output_dir, name), "w") as f:
            f.write("quantized")
)PY";

constexpr char kFakeVaiC[] = R"SH(#!/bin/sh
# vai_c_xir -x in -a arch -o out -n name
test -f "$4" || exit 4
cp "$2" "$6/$8.xmodel"
echo '{}' > "$6/meta.json"
echo "compiled $8"
)SH";

TEST(VitisExportTest, CompileScriptRunsQuantizerThenCompiler) {
  if (!PythonHasTorch()) GTEST_SKIP() << "/usr/bin/python3 cannot import torch";
  pruneserve::testing::TempDir tmp;
  std::ofstream(tmp.Join("testnet.py")) << kTestNet;
  fs::create_directories(tmp.Join("py/pytorch_nndct"));
  std::ofstream(tmp.Join("py/pytorch_nndct/__init__.py")) << "";
  std::ofstream(tmp.Join("py/pytorch_nndct/apis.py")) << kFakeNndct;
  fs::create_directories(tmp.Join("bin"));
  std::ofstream(tmp.Join("bin/vai_c_xir")) << kFakeVaiC;
  fs::permissions(tmp.Join("bin/vai_c_xir"), fs::perms::owner_all);
  std::ofstream(tmp.Join("arch.json")) << "{}";
  CommandResult r =
      RunShell(std::string(kPython) + " " + tmp.Join("testnet.py") + " " +
               tmp.Join("dense.pt"));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  auto source = InMemoryBatchSource::InOrder(Images(6), 4);
  VitisExportOptions options = Options(tmp.Join("export"));
  options.python_factory = "testnet:build";
  ASSERT_TRUE(
      ExportForVitis(torch::jit::load(tmp.Join("dense.pt")), &source, options)
          .ok());

  // The server's environment: the tools on PATH, Python with torch.
  const char* path = std::getenv("PATH");
  setenv("PATH", (tmp.Join("bin") + ":" + (path ? path : "/usr/bin")).c_str(),
         1);
  setenv("PYTHON", kPython, 1);
  ExternalCompilerOptions compile;
  compile.command_template =
      "/bin/bash " + SourceDir() +
      "/deploy/vitis/compile_xmodel.sh --export-dir {export_dir} "
      "--output-dir {output_dir} --name {name} --arch {arch} --pythonpath " +
      tmp.path() + ":" + tmp.Join("py");
  compile.arch = tmp.Join("arch.json");
  compile.work_root = tmp.Join("work");
  compile.env_allowlist.push_back("PYTHON");
  auto compiler = ExternalCompiler::Create(compile);
  ASSERT_TRUE(compiler.ok()) << compiler.status();
  auto result = (*compiler)->Compile({tmp.Join("export"), "vgg_small"});
  setenv("PATH", path ? path : "/usr/bin", 1);
  unsetenv("PYTHON");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(fs::path(result->xmodel_path).filename(), "vgg_small.xmodel");
  EXPECT_EQ(ReadAll(result->xmodel_path), "quantized");
  EXPECT_THAT(ReadAll(result->log_path), HasSubstr("compiled vgg_small"));
  EXPECT_EQ(ReadAll(result->work_dir + "/quantize/quantize_result/calls.txt"),
            "init calib [1, 1, 28, 28]\n"
            "forward 6\n"
            "export_quant_config\n"
            "init test [1, 1, 28, 28]\n"
            "forward 1\n"
            "export_xmodel\n");
}

}  // namespace
}  // namespace pruneserve::vitis
