// BatchNorm folding, the INT8 simulation and its report on zoo models, on
// random images and on a Fashion-MNIST subset.
#include "core/quantization/dpu_quantizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/data/dataset_spec.h"
#include "core/models/model_zoo.h"
#include "core/quantization/batch_norm_folding.h"
#include "core/quantization/quantization_report.h"
#include "tests/testing/in_memory_batch_source.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::quantization {
namespace {

// Serves fixed images and labels in order, `batch` at a time:
// TensorSource(images, labels, classes, batch).
using TensorSource = pruneserve::testing::InMemoryBatchSource;

TensorSource RandomSource(int64_t n, uint64_t seed, int64_t batch = 32) {
  torch::manual_seed(seed);
  return TensorSource(torch::randn({n, 1, 28, 28}),
                      torch::randint(10, {n}, torch::kLong), 10, batch);
}

// A zoo model whose BatchNorms have non-trivial affine parameters and
// running statistics that match random-normal inputs (a few forward passes
// in training mode), as a trained model's would.
torch::jit::Module ZooModel(const std::string& arch, double width) {
  models::ZooOptions zoo;
  zoo.arch = arch;
  zoo.in_channels = 1;
  zoo.input_size = 28;
  zoo.width_multiplier = width;
  zoo.seed = 7;
  auto model = models::BuildZooModel(zoo);
  EXPECT_TRUE(model.ok()) << model.status();
  torch::NoGradGuard no_grad;
  torch::manual_seed(11);
  for (const auto& sub : model->named_modules()) {
    if (!sub.value.hasattr("running_var")) continue;
    auto gamma = sub.value.attr("weight").toTensor();
    gamma.uniform_(0.5, 1.5);
    sub.value.attr("bias").toTensor().normal_(0.0, 0.1);
  }
  model->train();
  for (int i = 0; i < 12; ++i) model->forward({torch::randn({32, 1, 28, 28})});
  model->eval();
  return *model;
}

int CountNodes(const torch::jit::Module& m, c10::Symbol kind) {
  int n = 0;
  for (const auto* node : m.get_method("forward").graph()->nodes()) {
    if (node->kind() == kind) ++n;
  }
  return n;
}

int CountBatchNorms(const torch::jit::Module& m) {
  int n = 0;
  for (const auto& sub : m.named_modules()) {
    if (sub.value.hasattr("running_var")) ++n;
  }
  return n;
}

torch::Tensor Forward(torch::jit::Module m, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  m.eval();
  return m.forward({x}).toTensor();
}

// The tensor at dotted attribute path `path` ("features.conv0.weight").
torch::Tensor TensorAt(const torch::jit::Module& m, const std::string& path) {
  torch::jit::IValue cur = m._ivalue();
  std::string rest = path;
  while (true) {
    const auto dot = rest.find('.');
    cur = cur.toObjectRef().getAttr(rest.substr(0, dot));
    if (dot == std::string::npos) break;
    rest = rest.substr(dot + 1);
  }
  return cur.toTensor();
}

TEST(BatchNormFoldingTest, FoldedZooModelsMatchTheOriginal) {
  for (const auto& [arch, width] : std::vector<std::pair<std::string, double>>{
           {"vgg11_bn", 0.25}, {"resnet20", 0.5}, {"mobilenet_v2", 0.25}}) {
    SCOPED_TRACE(arch);
    torch::jit::Module model = ZooModel(arch, width);
    auto folded = FoldBatchNorms(model);
    ASSERT_TRUE(folded.ok()) << folded.status();
    EXPECT_EQ(static_cast<int>(folded->folded.size()), CountBatchNorms(model));
    EXPECT_THAT(folded->skipped, ::testing::IsEmpty());
    EXPECT_EQ(CountNodes(folded->module, c10::aten::batch_norm), 0);
    torch::manual_seed(3);
    torch::Tensor x = torch::randn({8, 1, 28, 28});
    torch::Tensor want = Forward(model, x);
    torch::Tensor got = Forward(folded->module, x);
    ASSERT_EQ(got.sizes(), want.sizes());
    const double scale = want.abs().max().item<double>();
    EXPECT_LT((got - want).abs().max().item<double>(), 1e-4 * (1 + scale));
    // The caller's model is untouched and still has its BatchNorms.
    EXPECT_GT(CountNodes(model, c10::prim::CallMethod), 0);
    EXPECT_TRUE(torch::equal(Forward(model, x), want));
  }
}

TEST(BatchNormFoldingTest, NamesFoldedPairs) {
  torch::jit::Module model = ZooModel("vgg11_bn", 0.25);
  auto folded = FoldBatchNorms(model);
  ASSERT_TRUE(folded.ok()) << folded.status();
  ASSERT_EQ(folded->folded.size(), 8u);
  EXPECT_EQ(folded->folded[0].conv, "features.conv0");
  EXPECT_EQ(folded->folded[0].batch_norm, "features.bn0");
  // The zoo's convs have no bias: each folded conv gets a root parameter.
  EXPECT_TRUE(folded->module.hasattr("features_conv0_folded_bias"));
}

// Models written in Python, scripted and traced (the graphs users upload:
// nn.Conv2d/nn.BatchNorm2d inline differently from the zoo's modules, and
// tracing gives aten::_convolution). Skipped without /usr/bin/python3 torch.
TEST(BatchNormFoldingTest, FoldsPythonScriptedAndTracedModels) {
  if (std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 has no torch";
  }
  testing::TempDir dir;
  // TorchScript needs the class source, so the script is a file.
  const std::string py = dir.Join("make_models.py");
  std::ofstream(py) << R"PY(
import sys
import torch
import torch.nn as nn

torch.manual_seed(0)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(x)))
        x = nn.functional.adaptive_avg_pool2d(x + y, 1)
        return self.fc(torch.flatten(x, 1))


m = Net()
for bn in (m.bn1, m.bn2):
    bn.running_mean.uniform_(-0.5, 0.5)
    bn.running_var.uniform_(0.5, 2.0)
    bn.weight.data.uniform_(0.5, 1.5)
    bn.bias.data.uniform_(-0.2, 0.2)
m.eval()
torch.jit.script(m).save(sys.argv[1] + "/scripted.pt")
torch.jit.trace(m, torch.randn(1, 1, 12, 12)).save(sys.argv[1] + "/traced.pt")
)PY";
  const std::string script =
      absl::StrCat("/usr/bin/python3 ", py, " ", dir.path());
  ASSERT_EQ(std::system(script.c_str()), 0) << script;
  for (const std::string name : {"scripted.pt", "traced.pt"}) {
    SCOPED_TRACE(name);
    torch::jit::Module model = torch::jit::load(dir.Join(name));
    auto folded = FoldBatchNorms(model);
    ASSERT_TRUE(folded.ok()) << folded.status();
    EXPECT_EQ(folded->folded.size(), 2u);
    EXPECT_THAT(folded->skipped, ::testing::IsEmpty());
    torch::manual_seed(4);
    torch::Tensor x = torch::randn({4, 1, 12, 12});
    EXPECT_LT((Forward(folded->module, x) - Forward(model, x))
                  .abs()
                  .max()
                  .item<double>(),
              1e-4);
    TensorSource calib(torch::randn({16, 1, 12, 12}),
                       torch::zeros({16}, torch::kLong), 10, 8);
    auto q = QuantizeForDpu(model, QuantizationOptions(), calib, nullptr);
    ASSERT_TRUE(q.ok()) << q.status();
    int adds = 0;
    for (const auto& t : q->report.tensors()) {
      if (absl::StartsWith(t.name(), "add.")) ++adds;
    }
    EXPECT_EQ(adds, 1);  // the residual join is quantized
    EXPECT_EQ(Forward(q->fake_quantized, x).sizes(),
              (std::vector<int64_t>{4, 10}));
  }
}

QuantizationOptions SmallOptions(CalibrationMethod method) {
  QuantizationOptions options;
  options.method = method;
  options.calibration_examples = 64;
  options.max_samples_per_tensor = 1 << 15;
  return options;
}

TEST(DpuQuantizerTest, Int8SimulationAgreesWithFloat) {
  for (const auto& [arch, width] : std::vector<std::pair<std::string, double>>{
           {"vgg11_bn", 0.25}, {"resnet20", 0.5}}) {
    SCOPED_TRACE(arch);
    torch::jit::Module model = ZooModel(arch, width);
    TensorSource calib = RandomSource(64, 1);
    auto result = QuantizeForDpu(model, SmallOptions(CalibrationMethod::kMax),
                                 calib, nullptr);
    ASSERT_TRUE(result.ok()) << result.status();
    torch::manual_seed(2);
    torch::Tensor x = torch::randn({128, 1, 28, 28});
    torch::Tensor y = Forward(model, x);
    torch::Tensor yq = Forward(result->fake_quantized, x);
    ASSERT_EQ(yq.sizes(), y.sizes());
    const double agreement =
        y.argmax(1).eq(yq.argmax(1)).to(torch::kDouble).mean().item<double>();
    const double rel = ((yq - y).norm() / y.norm()).item<double>();
    // Untrained networks have nearly tied logits, so a few argmaxes flip;
    // the Fashion-MNIST test below bounds the accuracy cost on a real model.
    EXPECT_GE(agreement, 0.85);
    EXPECT_LT(rel, 0.1);
    EXPECT_GT(rel, 0.0);  // it really is quantized
    // The folded float model is the original, up to float rounding.
    torch::Tensor yf = Forward(result->folded_float, x);
    EXPECT_LT((yf - y).abs().max().item<double>(), 1e-3);
    EXPECT_LT(result->report.folding_max_abs_diff(), 1e-3);
  }
}

TEST(DpuQuantizerTest, ParametersAndOutputLieOnTheirGrids) {
  torch::jit::Module model = ZooModel("resnet20", 0.5);
  TensorSource calib = RandomSource(48, 1);
  auto result = QuantizeForDpu(model, SmallOptions(CalibrationMethod::kMax),
                               calib, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  const v1::QuantizationReport& report = result->report;
  int params = 0;
  for (const auto& t : report.tensors()) {
    if (t.kind() == v1::QuantizedTensor::ACTIVATION) continue;
    ++params;
    SCOPED_TRACE(t.name());
    // kMax: the largest fix_point at which max |w| does not saturate.
    EXPECT_LE(std::ldexp(t.max_abs(), t.fix_point()), 127.0);
    EXPECT_GT(std::ldexp(t.max_abs(), t.fix_point() + 1), 127.0);
    torch::Tensor w = TensorAt(result->fake_quantized, t.name());
    torch::Tensor q = w.to(torch::kDouble) * std::ldexp(1.0, t.fix_point());
    EXPECT_TRUE(torch::equal(q, q.round()));
    EXPECT_LE(q.max().item<double>(), 127.0);
    EXPECT_GE(q.min().item<double>(), -128.0);
  }
  EXPECT_GT(params, 0);
  const auto& out = report.tensors(report.tensors_size() - 1);
  ASSERT_EQ(out.name(), "output");
  torch::manual_seed(5);
  torch::Tensor y =
      Forward(result->fake_quantized, torch::randn({4, 1, 28, 28}));
  torch::Tensor q = y.to(torch::kDouble) * std::ldexp(1.0, out.fix_point());
  EXPECT_TRUE(torch::equal(q, q.round()));
}

TEST(DpuQuantizerTest, ReportListsEveryQuantizedTensor) {
  torch::jit::Module model = ZooModel("vgg11_bn", 0.25);
  TensorSource calib = RandomSource(40, 1, /*batch=*/16);
  QuantizationOptions options = SmallOptions(CalibrationMethod::kPercentile);
  options.percentile = 99.9;
  auto result = QuantizeForDpu(model, options, calib, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  const v1::QuantizationReport& r = result->report;
  EXPECT_EQ(r.method(), "percentile");
  EXPECT_EQ(r.weight_method(), "max");
  EXPECT_DOUBLE_EQ(r.percentile(), 99.9);
  EXPECT_EQ(r.bit_width(), 8);
  EXPECT_EQ(r.calibration_examples(), 40);  // fewer than asked: all there is
  EXPECT_EQ(r.folded_batch_norms(), 8);
  EXPECT_FALSE(r.evaluated());
  std::map<v1::QuantizedTensor::Kind, int> kinds;
  for (const auto& t : r.tensors()) ++kinds[t.kind()];
  // 8 convs + 1 linear: 9 weights, 9 biases (8 folded + the linear's);
  // activations: input, 8 conv inputs after the first, the linear's input
  // and the output.
  EXPECT_EQ(kinds[v1::QuantizedTensor::WEIGHT], 9);
  EXPECT_EQ(kinds[v1::QuantizedTensor::BIAS], 9);
  EXPECT_EQ(kinds[v1::QuantizedTensor::ACTIVATION], 10);
  EXPECT_EQ(r.tensors(0).name(), "features.conv0.weight");
  const v1::QuantizedTensor* input = nullptr;
  for (const auto& t : r.tensors()) {
    if (t.name() == "input") input = &t;
    if (t.kind() == v1::QuantizedTensor::ACTIVATION) {
      EXPECT_LE(t.samples(), 1 << 15);
      EXPECT_LE(t.range(), t.max_abs()) << t.name();
      EXPECT_GT(t.snr_db(), 10.0) << t.name();
    }
  }
  ASSERT_NE(input, nullptr);
  EXPECT_EQ(input->samples(), 40 * 28 * 28);  // all values kept
  EXPECT_EQ(r.tensors(r.tensors_size() - 1).name(), "output");

  const std::string text = RenderQuantizationReport(r);
  EXPECT_THAT(text, ::testing::HasSubstr("activations=percentile(99.9)"));
  EXPECT_THAT(text, ::testing::HasSubstr("features.conv1.input"));
  EXPECT_THAT(text, ::testing::HasSubstr("accuracy: not evaluated"));
  EXPECT_THAT(text, ::testing::HasSubstr("folded BatchNorms: 8"));
  QuantizationReportRenderOptions only_activations;
  only_activations.include_params = false;
  EXPECT_THAT(RenderQuantizationReport(r, only_activations),
              ::testing::Not(::testing::HasSubstr("conv0.weight")));
}

TEST(DpuQuantizerTest, MseAndPercentileAgainstMax) {
  torch::jit::Module model = ZooModel("resnet20", 0.5);
  std::map<std::string, v1::QuantizationReport> reports;
  for (CalibrationMethod m :
       {CalibrationMethod::kMax, CalibrationMethod::kPercentile,
        CalibrationMethod::kMse}) {
    TensorSource calib = RandomSource(64, 1);
    QuantizationOptions options = SmallOptions(m);
    options.percentile = 99.9;
    auto result = QuantizeForDpu(model, options, calib, nullptr);
    ASSERT_TRUE(result.ok()) << result.status();
    reports[CalibrationMethodName(m)] = result->report;
  }
  const auto& max = reports["max"];
  const auto& pct = reports["percentile"];
  const auto& mse = reports["mse"];
  ASSERT_EQ(max.tensors_size(), mse.tensors_size());
  ASSERT_EQ(max.tensors_size(), pct.tensors_size());
  int finer = 0, clipped = 0;
  for (int i = 0; i < max.tensors_size(); ++i) {
    const auto& a = max.tensors(i);
    if (a.kind() != v1::QuantizedTensor::ACTIVATION) continue;
    SCOPED_TRACE(a.name());
    ASSERT_EQ(mse.tensors(i).name(), a.name());
    // Same calibration values (same seed), so the search can only improve.
    EXPECT_EQ(mse.tensors(i).samples(), a.samples());
    EXPECT_LE(mse.tensors(i).mse(), a.mse());
    if (mse.tensors(i).fix_point() > a.fix_point()) ++finer;
    EXPECT_LE(pct.tensors(i).range(), a.range());
    EXPECT_GE(pct.tensors(i).fix_point(), a.fix_point());
    if (pct.tensors(i).range() < a.range()) ++clipped;
  }
  EXPECT_GT(finer, 0);
  EXPECT_GT(clipped, 0);
}

TEST(DpuQuantizerTest, SimulationSavesAndLoads) {
  torch::jit::Module model = ZooModel("vgg11_bn", 0.25);
  TensorSource calib = RandomSource(32, 1);
  auto result = QuantizeForDpu(model, SmallOptions(CalibrationMethod::kMse),
                               calib, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  testing::TempDir dir;
  const std::string path = dir.Join("int8_sim.pt");
  result->fake_quantized.save(path);
  torch::jit::Module loaded = torch::jit::load(path);
  torch::manual_seed(9);
  torch::Tensor x = torch::randn({4, 1, 28, 28});
  EXPECT_TRUE(
      torch::equal(Forward(loaded, x), Forward(result->fake_quantized, x)));
}

TEST(DpuQuantizerTest, RejectsBadInput) {
  torch::jit::Module model = ZooModel("vgg11_bn", 0.25);
  TensorSource calib = RandomSource(8, 1);
  QuantizationOptions bad = SmallOptions(CalibrationMethod::kMax);
  bad.bit_width = 1;
  auto r = QuantizeForDpu(model, bad, calib, nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("bit_width"));

  bad = SmallOptions(CalibrationMethod::kPercentile);
  bad.percentile = 0;
  EXPECT_EQ(QuantizeForDpu(model, bad, calib, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);

  bad = SmallOptions(CalibrationMethod::kMax);
  bad.input_shape = {1, 3, 28, 28};  // the model takes one channel
  r = QuantizeForDpu(model, bad, calib, nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("input_shape"));

  TensorSource empty(torch::zeros({0, 1, 28, 28}),
                     torch::zeros({0}, torch::kLong), 10, 4);
  r = QuantizeForDpu(model, SmallOptions(CalibrationMethod::kMax), empty,
                     nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);

  TensorSource wrong(torch::zeros({4, 3, 28, 28}),
                     torch::zeros({4}, torch::kLong), 10, 4);
  r = QuantizeForDpu(model, SmallOptions(CalibrationMethod::kMax), wrong,
                     nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);

  util::CancellationToken cancel;
  cancel.Cancel();
  r = QuantizeForDpu(model, SmallOptions(CalibrationMethod::kMax), calib,
                     nullptr, &cancel);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
}

// A model that has learnt something real: a small VGG trained briefly on a
// Fashion-MNIST subset. INT8 must keep its accuracy within a few points.
TEST(DpuQuantizerTest, FashionMnistAccuracySurvivesInt8) {
  auto spec = data::ParseDatasetSpec(
      "fashion-mnist:/usr/share/datasets/fashion-mnist:train");
  ASSERT_TRUE(spec.ok());
  data::OpenOptions open;
  open.limit = 3000;
  auto train = data::OpenDataset(*spec, open);
  if (!train.ok())
    GTEST_SKIP() << "Fashion-MNIST not installed: " << train.status();
  // Images as float in [0, 1], normalised like the loaders do.
  std::vector<torch::Tensor> images, labels;
  for (int64_t i = 0; i < (*train)->size(); ++i) {
    auto ex = (*train)->Get(i);
    ASSERT_TRUE(ex.ok()) << ex.status();
    images.push_back(ex->image);
    labels.push_back(torch::tensor({ex->label}, torch::kLong));
  }
  torch::Tensor x =
      (torch::stack(images).to(torch::kFloat) / 255.0 - 0.286) / 0.353;
  torch::Tensor y = torch::cat(labels);
  x = x.view({-1, 1, 28, 28});
  const int64_t n_train = 2500;

  models::ZooOptions zoo;
  zoo.arch = "vgg11_bn";
  zoo.in_channels = 1;
  zoo.input_size = 28;
  zoo.width_multiplier = 0.125;
  auto model = models::BuildZooModel(zoo);
  ASSERT_TRUE(model.ok());
  std::vector<torch::Tensor> params;
  for (const auto& p : model->parameters()) params.push_back(p);
  torch::optim::SGD sgd(params, torch::optim::SGDOptions(0.05).momentum(0.9));
  model->train();
  torch::manual_seed(0);
  for (int epoch = 0; epoch < 2; ++epoch) {
    torch::Tensor perm = torch::randperm(n_train);
    for (int64_t s = 0; s + 50 <= n_train; s += 50) {
      torch::Tensor idx = perm.narrow(0, s, 50);
      torch::Tensor logits =
          model->forward({x.index_select(0, idx)}).toTensor();
      torch::Tensor loss =
          torch::nn::functional::cross_entropy(logits, y.index_select(0, idx));
      sgd.zero_grad();
      loss.backward();
      sgd.step();
    }
  }
  model->eval();
  TensorSource calib(x.narrow(0, 0, 256), y.narrow(0, 0, 256), 10, 64);
  TensorSource eval(x.narrow(0, n_train, 500), y.narrow(0, n_train, 500), 10,
                    100);
  QuantizationOptions options = SmallOptions(CalibrationMethod::kMse);
  options.calibration_examples = 256;
  auto result = QuantizeForDpu(*model, options, calib, &eval);
  ASSERT_TRUE(result.ok()) << result.status();
  const auto& r = result->report;
  EXPECT_TRUE(r.evaluated());
  EXPECT_EQ(r.evaluation_examples(), 500);
  EXPECT_GT(r.float_top1(), 0.6) << RenderQuantizationReport(r);
  EXPECT_GT(r.int8_top1(), r.float_top1() - 0.03)
      << RenderQuantizationReport(r);
  EXPECT_NEAR(r.top1_drop(), r.float_top1() - r.int8_top1(), 1e-12);
  RecordProperty("float_top1", std::to_string(r.float_top1()));
  RecordProperty("int8_top1", std::to_string(r.int8_top1()));
  EXPECT_GE(r.float_top5(), r.float_top1());
  EXPECT_THAT(RenderQuantizationReport(r),
              ::testing::HasSubstr("accuracy on 500 examples"));
}

}  // namespace
}  // namespace pruneserve::quantization
