// CountModelCost against the figures torchvision publishes for its ImageNet
// classifiers: multiply-accumulates at the model's own input size (224x224,
// 299x299 for Inception v3) with the 1000-class head, and exact parameter
// counts. The models are the real torchvision definitions, scripted by
// Debian's /usr/bin/python3 (python3-torch 1.13, python3-torchvision 0.14),
// so this exercises everything torch.jit.script produces for them: prim::If
// on attributes, Optional submodules, list loops, tuple outputs. Skipped when
// /usr/bin/python3 cannot import torch and torchvision.
//
// Source of the figures: the per-weight metadata of torchvision's model
// builders (torchvision/models/<family>.py, the `meta` dict of each
// <Model>_Weights.IMAGENET1K_V1 entry): "num_params" is present in 0.14;
// "_ops" (GMACs, counted on convolutions, linear layers and matmuls) was
// added in torchvision 0.15 and is rendered as the "GFLOPS" column of the
// classification table at https://pytorch.org/vision/stable/models.html
// (rounded there to two decimals; the metadata has up to three).
#include <gtest/gtest.h>
#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/pruning/flops_counter.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::pruning {
namespace {

constexpr char kPython[] = "/usr/bin/python3";

struct PublishedCost {
  // torchvision.models builder name; the archive is <model>.pt.
  const char* model;
  // JSON object of builder keyword arguments besides weights=None.
  const char* builder_kwargs;
  // Square input side the published figure was measured at.
  int64_t image_size;
  // Published GMACs, as printed: its last digit sets the rounding slack.
  const char* gmacs;
  // Published parameter count (exact).
  int64_t params;
};

// Names the row in gtest output instead of dumping its bytes.
void PrintTo(const PublishedCost& p, std::ostream* os) { *os << p.model; }

// GoogLeNet: the released weights drop the auxiliary heads (the builder sets
// aux_logits=False when loading them), and the published figures describe
// that network. Inception v3 keeps its AuxLogits head by default, and its
// published 27161264 parameters include it; the head only runs in training.
constexpr PublishedCost kPublished[] = {
    {"alexnet", "{}", 224, "0.714", 61100840},
    {"convnext_tiny", "{}", 224, "4.456", 28589128},
    {"densenet121", "{}", 224, "2.834", 7978856},
    {"efficientnet_b0", "{}", 224, "0.386", 5288548},
    {"googlenet", R"({"aux_logits": false})", 224, "1.498", 6624904},
    {"inception_v3", "{}", 299, "5.713", 27161264},
    {"mnasnet1_0", "{}", 224, "0.314", 4383312},
    {"mobilenet_v2", "{}", 224, "0.301", 3504872},
    {"mobilenet_v3_large", "{}", 224, "0.217", 5483032},
    {"mobilenet_v3_small", "{}", 224, "0.057", 2542856},
    {"regnet_x_400mf", "{}", 224, "0.414", 5495976},
    {"resnet18", "{}", 224, "1.814", 11689512},
    {"resnet50", "{}", 224, "4.089", 25557032},
    {"resnext50_32x4d", "{}", 224, "4.23", 25028904},
    {"shufflenet_v2_x1_0", "{}", 224, "0.145", 2278604},
    {"squeezenet1_0", "{}", 224, "0.819", 1248424},
    {"vgg13_bn", "{}", 224, "11.308", 133053736},
};

// Reads lines "<model> <json kwargs>" from <dir>/models.txt and saves each
// scripted eval-mode model as <dir>/<model>.pt. A model that fails is
// reported on stdout and skipped, so the others are still checked.
constexpr char kScriptModels[] = R"PY(
import json, sys, traceback, warnings
import torch, torchvision
warnings.filterwarnings("ignore")
out = sys.argv[1]
torch.manual_seed(0)
with open(out + "/models.txt") as f:
    for line in f:
        name, kwargs = line.rstrip("\n").split(" ", 1)
        try:
            builder = getattr(torchvision.models, name)
            model = builder(weights=None, **json.loads(kwargs)).eval()
            torch.jit.script(model).save(out + "/" + name + ".pt")
            print("scripted", name, flush=True)
        except Exception:
            print("FAILED", name, flush=True)
            traceback.print_exc(file=sys.stdout)
)PY";

bool PythonHasTorchvision() {
  std::string cmd =
      std::string(kPython) + " -c 'import torch, torchvision' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// Half a unit in the last printed digit of `figure` ("4.23" -> 0.005).
double RoundingSlack(const std::string& figure) {
  size_t dot = figure.find('.');
  const int decimals =
      dot == std::string::npos ? 0 : static_cast<int>(figure.size() - dot - 1);
  return 0.5 * std::pow(10.0, -decimals);
}

class PublishedCostTest : public ::testing::TestWithParam<PublishedCost> {
 protected:
  // Scripts every model in one Python process: interpreter and torchvision
  // start-up dominate a per-model invocation.
  static void SetUpTestSuite() {
    if (!PythonHasTorchvision()) return;
    dir_ = new pruneserve::testing::TempDir();
    {
      std::ofstream list(dir_->Join("models.txt"));
      for (const PublishedCost& p : kPublished) {
        list << p.model << " " << p.builder_kwargs << "\n";
      }
      std::ofstream(dir_->Join("script_models.py")) << kScriptModels;
    }
    std::string cmd = std::string(kPython) + " " +
                      dir_->Join("script_models.py") + " " + dir_->path() +
                      " 2>&1";
    log_ = new std::string();
    FILE* pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr) return;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) log_->append(buf, n);
    int rc = pclose(pipe);
    if (rc != 0) absl::StrAppend(log_, "\n(exit status ", rc, ")");
  }

  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
    delete log_;
    log_ = nullptr;
  }

  void SetUp() override {
    if (dir_ == nullptr) GTEST_SKIP() << kPython << " has no torchvision";
  }

  static pruneserve::testing::TempDir* dir_;
  // Combined output of the scripting run, shown when an archive is missing.
  static std::string* log_;
};

pruneserve::testing::TempDir* PublishedCostTest::dir_ = nullptr;
std::string* PublishedCostTest::log_ = nullptr;

TEST_P(PublishedCostTest, MacsAndParamsMatchPublished) {
  const PublishedCost& p = GetParam();
  const std::string path = dir_->Join(std::string(p.model) + ".pt");
  ASSERT_TRUE(std::ifstream(path).good())
      << p.model << " was not scripted; Python said:\n"
      << *log_;
  torch::jit::Module module = torch::jit::load(path);
  std::remove(path.c_str());  // VGG and AlexNet archives are 250-530 MB.
  auto cost = CountModelCost(module, {1, 3, p.image_size, p.image_size});
  ASSERT_TRUE(cost.ok()) << p.model << ": " << cost.status();

  // Published figures are rounded to the digits printed, so a count is
  // accepted when |ours - published| <= max(2 % of published, half a unit in
  // the last published digit).
  const double published = std::stod(p.gmacs);
  const double ours = cost->total_macs / 1e9;
  const double relative = (ours - published) / published;
  const double allowed = std::max(0.02 * published, RoundingSlack(p.gmacs));
  RecordProperty("ours_gmacs", absl::StrFormat("%.4f", ours));
  RecordProperty("published_gmacs", p.gmacs);
  RecordProperty("relative_error", absl::StrFormat("%+.2f%%", 100 * relative));
  EXPECT_LE(std::abs(ours - published), allowed) << absl::StrFormat(
      "%s at %dx%d: ours %.4f GMACs, published %s GMACs, relative error "
      "%+.2f%% (allowed %.2f%%)",
      p.model, p.image_size, p.image_size, ours, p.gmacs, 100 * relative,
      100 * allowed / published);
  EXPECT_EQ(cost->total_params, p.params)
      << p.model << ": ours " << cost->total_params << " parameters, published "
      << p.params;
}

INSTANTIATE_TEST_SUITE_P(Torchvision, PublishedCostTest,
                         ::testing::ValuesIn(kPublished), [](const auto& info) {
                           return std::string(info.param.model);
                         });

}  // namespace
}  // namespace pruneserve::pruning
