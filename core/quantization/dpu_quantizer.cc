// DPU-style INT8 post-training quantization simulation; see dpu_quantizer.h.
#include "core/quantization/dpu_quantizer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "core/pruning/inlined_forward.h"
#include "core/quantization/batch_norm_folding.h"
#include "core/quantization/fake_quant_graph.h"
#include "core/training/evaluator.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"

namespace pruneserve::quantization {
namespace {

namespace jit = torch::jit;
using internal::ActivationPoint;
using internal::ParamKind;
using internal::QuantPoints;
using pruning::internal::AttrAtPath;
using pruning::internal::InlinedForward;
using pruning::internal::ScopedEvalMode;
using pruning::internal::SplitOwner;

absl::Status ValidateOptions(const QuantizationOptions& o) {
  if (o.bit_width < 2 || o.bit_width > 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("bit_width must be in [2, 16], got ", o.bit_width));
  }
  if (!(o.percentile > 0.0 && o.percentile <= 100.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("percentile must be in (0, 100], got ", o.percentile));
  }
  if (o.calibration_examples < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "calibration_examples must be >= 1, got ", o.calibration_examples));
  }
  if (o.max_samples_per_tensor < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_samples_per_tensor must be >= 1, got ", o.max_samples_per_tensor));
  }
  if (o.top_k < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("top_k must be >= 1, got ", o.top_k));
  }
  for (int64_t d : o.input_shape) {
    if (d < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("input_shape has a non-positive dim ", d));
    }
  }
  return absl::OkStatus();
}

absl::Span<const float> FloatSpan(const torch::Tensor& flat) {
  return absl::Span<const float>(flat.data_ptr<float>(),
                                 static_cast<size_t>(flat.numel()));
}

// The exact largest |x| of one activation and a uniform random sample of
// its values across the calibration batches. Not thread-safe.
class ActivationObserver {
 public:
  // Takes up to `quota` values of `t` (all of them when it has fewer), never
  // exceeding `cap` samples in total.
  void Observe(const torch::Tensor& t, int64_t quota, int64_t cap,
               at::Generator& gen) {
    torch::Tensor flat = t.detach().reshape(-1).to(torch::kFloat).contiguous();
    if (flat.numel() == 0) return;
    max_abs_ = std::max(max_abs_, flat.abs().max().item<double>());
    quota = std::min(quota, cap - static_cast<int64_t>(samples_.size()));
    if (quota <= 0) return;
    if (flat.numel() > quota) {
      torch::Tensor idx = torch::randint(flat.numel(), {quota}, gen,
                                         torch::TensorOptions(torch::kLong));
      flat = flat.index_select(0, idx).contiguous();
    }
    auto values = FloatSpan(flat);
    samples_.insert(samples_.end(), values.begin(), values.end());
  }

  double max_abs() const { return max_abs_; }
  absl::Span<const float> samples() const { return samples_; }

 private:
  double max_abs_ = 0.0;
  std::vector<float> samples_;
};

v1::QuantizedTensor TensorEntry(const std::string& name,
                                v1::QuantizedTensor::Kind kind,
                                const FixPointChoice& choice, double max_abs,
                                absl::Span<const float> values, int bit_width) {
  v1::QuantizedTensor entry;
  entry.set_name(name);
  entry.set_kind(kind);
  entry.set_fix_point(choice.fix_point);
  entry.set_max_abs(max_abs);
  entry.set_range(choice.range);
  entry.set_mse(QuantizationMse(values, choice.fix_point, bit_width));
  entry.set_snr_db(QuantizationSnrDb(values, choice.fix_point, bit_width));
  entry.set_samples(static_cast<int64_t>(values.size()));
  return entry;
}

absl::Status SetTensorAttr(jit::Module& module, const std::string& path,
                           const torch::Tensor& value) {
  auto [owner_path, name] = SplitOwner(path);
  PS_ASSIGN_OR_RETURN(jit::IValue owner, AttrAtPath(module, owner_path));
  if (!owner.isObject()) {
    return absl::InternalError(absl::StrCat(owner_path, " is not a module"));
  }
  owner.toObject()->setAttr(name, value);
  return absl::OkStatus();
}

// Largest |original(x) - folded(x)| on one batch.
absl::StatusOr<double> FoldingError(const jit::Module& original,
                                    const jit::Module& folded,
                                    const torch::Tensor& images) {
  try {
    jit::Module a = original;
    jit::Module b = folded;
    torch::Tensor ya, yb;
    {
      ScopedEvalMode eval(a);
      ya = a.forward({images}).toTensor();
    }
    {
      ScopedEvalMode eval(b);
      yb = b.forward({images}).toTensor();
    }
    return (ya - yb).abs().max().item<double>();
  } catch (const std::exception& e) {
    return TorchErrorToStatus(
        e, absl::StrCat("comparing folded and original model on input ",
                        c10::str(images.sizes())));
  }
}

// The INT8 simulation: a clone of `folded` with fake-quantized parameters
// and quantize-dequantize ops at the activation points.
absl::StatusOr<jit::Module> BuildFakeQuantized(
    const jit::Module& folded, const QuantPoints& points,
    const std::vector<torch::Tensor>& params,
    const std::vector<int>& activation_fix_points, int bit_width) {
  jit::Module fq;
  try {
    fq = folded.clone();
    for (size_t i = 0; i < points.params.size(); ++i) {
      PS_RETURN_IF_ERROR(SetTensorAttr(fq, points.params[i].path, params[i]));
    }
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "building the INT8 simulation",
                              absl::StatusCode::kInternal);
  }
  PS_ASSIGN_OR_RETURN(auto forward, InlinedForward::Create(fq));
  PS_ASSIGN_OR_RETURN(QuantPoints again, internal::FindQuantPoints(*forward));
  if (again.activations.size() != points.activations.size()) {
    return absl::InternalError("quantization points differ between copies");
  }
  PS_RETURN_IF_ERROR(internal::InstallFakeQuant(
      *forward, again.activations, activation_fix_points, bit_width));
  return fq;
}

}  // namespace

absl::StatusOr<QuantizationResult> QuantizeForDpu(
    const jit::Module& model, const QuantizationOptions& options,
    data::BatchSource& calibration, data::BatchSource* eval,
    const util::CancellationToken* cancel) {
  PS_RETURN_IF_ERROR(ValidateOptions(options));
  const auto start = std::chrono::steady_clock::now();
  const int bits = options.bit_width;
  QuantizationResult result;
  v1::QuantizationReport& report = result.report;
  report.set_method(CalibrationMethodName(options.method));
  report.set_weight_method(CalibrationMethodName(options.weight_method));
  report.set_percentile(options.percentile);
  report.set_bit_width(bits);

  PS_ASSIGN_OR_RETURN(BatchNormFoldResult fold, FoldBatchNorms(model));
  result.folded_float = fold.module;
  report.set_folded_batch_norms(static_cast<int32_t>(fold.folded.size()));
  for (const std::string& s : fold.skipped) {
    report.add_warnings(absl::StrCat("BatchNorm not folded: ", s));
  }
  PS_ASSIGN_OR_RETURN(auto forward,
                      InlinedForward::Create(result.folded_float));
  PS_ASSIGN_OR_RETURN(QuantPoints points, internal::FindQuantPoints(*forward));

  torch::NoGradGuard no_grad;
  if (!options.input_shape.empty()) {
    try {
      jit::Module m = result.folded_float;
      ScopedEvalMode eval_mode(m);
      m.forward({torch::zeros(options.input_shape)});
    } catch (const std::exception& e) {
      return TorchErrorToStatus(
          e, absl::StrCat("running the model on input_shape ",
                          c10::str(options.input_shape)));
    }
  }

  // Weights and biases: every value is known, no calibration needed.
  std::vector<torch::Tensor> quantized_params;
  for (const internal::ParamPoint& p : points.params) {
    PS_ASSIGN_OR_RETURN(jit::IValue value,
                        AttrAtPath(result.folded_float, p.path));
    try {
      torch::Tensor t = value.toTensor().detach();
      torch::Tensor flat = t.reshape(-1).to(torch::kFloat).contiguous();
      auto values = FloatSpan(flat);
      const double max_abs = MaxAbs(values);
      const FixPointChoice choice = ChooseFixPoint(
          options.weight_method, values, max_abs, options.percentile, bits);
      torch::Tensor fq = flat.clone();
      float* data = fq.data_ptr<float>();
      for (int64_t i = 0; i < fq.numel(); ++i) {
        data[i] = static_cast<float>(
            FakeQuantizeValue(data[i], choice.fix_point, bits));
      }
      fq = fq.reshape(t.sizes()).to(t.scalar_type());
      fq.set_requires_grad(t.requires_grad());
      quantized_params.push_back(fq);
      *report.add_tensors() =
          TensorEntry(p.path,
                      p.kind == ParamKind::kWeight ? v1::QuantizedTensor::WEIGHT
                                                   : v1::QuantizedTensor::BIAS,
                      choice, max_abs, values, bits);
    } catch (const std::exception& e) {
      return TorchErrorToStatus(e, absl::StrCat("quantizing ", p.path),
                                absl::StatusCode::kInternal);
    }
  }

  // Activations: observed on the float (folded) model over the calibration
  // examples.
  std::vector<jit::Value*> tap_values;
  for (const ActivationPoint& a : points.activations) {
    tap_values.push_back(a.value);
  }
  PS_ASSIGN_OR_RETURN(auto tap, forward->Tap(tap_values));
  std::vector<ActivationObserver> observers(points.activations.size());
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  const int64_t expected =
      calibration.num_examples() > 0
          ? std::min(options.calibration_examples, calibration.num_examples())
          : options.calibration_examples;
  calibration.StartEpoch(0);
  int64_t seen = 0;
  while (seen < options.calibration_examples) {
    if (cancel != nullptr && cancel->IsCancelled()) {
      return absl::CancelledError("quantization cancelled");
    }
    PS_ASSIGN_OR_RETURN(std::optional<data::Batch> batch, calibration.Next());
    if (!batch.has_value()) break;
    torch::Tensor images = batch->images;
    if (!images.defined() || images.dim() < 1 || images.size(0) == 0) {
      return absl::InvalidArgumentError("calibration batch has no images");
    }
    const int64_t n =
        std::min(images.size(0), options.calibration_examples - seen);
    if (n < images.size(0)) images = images.narrow(0, 0, n);
    PS_ASSIGN_OR_RETURN(std::vector<torch::Tensor> values, tap->Run(images));
    if (seen == 0) {
      PS_ASSIGN_OR_RETURN(double diff,
                          FoldingError(model, result.folded_float, images));
      report.set_folding_max_abs_diff(diff);
    }
    const int64_t quota = (options.max_samples_per_tensor * n + expected - 1) /
                          std::max<int64_t>(expected, 1);
    try {
      for (size_t i = 0; i < values.size(); ++i) {
        observers[i].Observe(values[i], quota, options.max_samples_per_tensor,
                             gen);
      }
    } catch (const std::exception& e) {
      return TorchErrorToStatus(e, "observing activations",
                                absl::StatusCode::kInternal);
    }
    seen += n;
  }
  if (seen == 0) {
    return absl::FailedPreconditionError(
        "calibration source yielded no examples");
  }
  report.set_calibration_examples(seen);

  std::vector<int> activation_fix_points;
  for (size_t i = 0; i < points.activations.size(); ++i) {
    const ActivationObserver& obs = observers[i];
    const FixPointChoice choice = ChooseFixPoint(
        options.method, obs.samples(), obs.max_abs(), options.percentile, bits);
    activation_fix_points.push_back(choice.fix_point);
    *report.add_tensors() =
        TensorEntry(points.activations[i].name, v1::QuantizedTensor::ACTIVATION,
                    choice, obs.max_abs(), obs.samples(), bits);
  }

  PS_ASSIGN_OR_RETURN(
      result.fake_quantized,
      BuildFakeQuantized(result.folded_float, points, quantized_params,
                         activation_fix_points, bits));
  result.folded_float.eval();
  result.fake_quantized.eval();

  if (eval != nullptr) {
    training::EvalOptions eval_options;
    eval_options.top_k = options.top_k;
    eval_options.cancel = cancel;
    jit::Module float_model = model;
    PS_ASSIGN_OR_RETURN(training::EvalResult float_result,
                        training::Evaluate(float_model, *eval, eval_options));
    PS_ASSIGN_OR_RETURN(
        training::EvalResult int8_result,
        training::Evaluate(result.fake_quantized, *eval, eval_options));
    report.set_evaluated(true);
    report.set_evaluation_examples(int8_result.num_examples);
    report.set_float_top1(float_result.top1_accuracy);
    report.set_float_top5(float_result.topk_accuracy);
    report.set_int8_top1(int8_result.top1_accuracy);
    report.set_int8_top5(int8_result.topk_accuracy);
    report.set_top1_drop(float_result.top1_accuracy -
                         int8_result.top1_accuracy);
    report.set_top5_drop(float_result.topk_accuracy -
                         int8_result.topk_accuracy);
  }
  report.set_elapsed_ms(std::chrono::duration<double, std::milli>(
                            std::chrono::steady_clock::now() - start)
                            .count());
  return result;
}

}  // namespace pruneserve::quantization
