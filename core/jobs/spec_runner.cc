// RunSpec as a sequence of stage functions. Each stage reports its own
// phase through the hooks before it works; the rounds stage relays the
// pipeline's per-step progress with the model size, the latest accuracy and
// the whole-run completion estimate added.
#include "core/jobs/spec_runner.h"

#include <algorithm>
#include <exception>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/export/external_compiler.h"
#include "core/export/vitis_export.h"
#include "core/pipeline/pruning_pipeline.h"
#include "core/quantization/dpu_quantizer.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"

namespace pruneserve::jobs {
namespace {

// Share of a round spent in each phase, for the whole-run completion
// estimate: pruning is quick, fine-tuning dominates.
constexpr double kPruneShare = 0.05;
constexpr double kFinetuneShare = 0.85;

double Fraction(int64_t step, int64_t steps) {
  return steps > 0 ? std::clamp(static_cast<double>(step) / steps, 0.0, 1.0)
                   : 0.0;
}

// Whole-run completion in [0, 1] for a progress event of the rounds.
// `finetuned` says whether this round's fine-tuning has run (an evaluation
// before it is the quick look right after pruning).
double FractionDone(const Progress& p, bool finetuning, bool finetuned) {
  if (p.round < 0 || p.num_rounds <= 0) return 0.0;
  const double prune = kPruneShare;
  const double finetune = finetuning ? kFinetuneShare : 0.0;
  const double evaluate = 1.0 - prune - finetune;
  double within = 0.0;
  switch (p.phase) {
    case Phase::kPrune:
      within = prune * Fraction(p.step, p.steps_per_epoch);
      break;
    case Phase::kFinetune:
      within =
          prune +
          finetune * (p.num_epochs > 0
                          ? (p.epoch + Fraction(p.step, p.steps_per_epoch)) /
                                p.num_epochs
                          : 1.0);
      break;
    case Phase::kEvaluate:
      // The evaluation after fine-tuning ends the round; the one right after
      // pruning is counted as part of pruning.
      within = finetuning && !finetuned
                   ? prune
                   : prune + finetune +
                         evaluate * Fraction(p.step, p.steps_per_epoch);
      break;
    default:
      break;
  }
  return std::clamp((p.round + std::min(within, 1.0)) / p.num_rounds, 0.0, 1.0);
}

absl::Status CheckCancelled(const util::CancellationToken* cancel) {
  if (cancel != nullptr && cancel->IsCancelled()) {
    return absl::CancelledError("job cancelled");
  }
  return absl::OkStatus();
}

// What the stages share: the spec, the hooks, the data and the result so far.
struct Run {
  const v1::JobSpec& spec;
  const SpecRunHooks& hooks;
  const JobDataSources& data;
  pipeline::PipelineResult result;
  JobOutcome outcome;

  // Calibration images of the quantize and export stages.
  data::BatchSource* images() const {
    return data.calibration != nullptr ? data.calibration.get()
                                       : data.train.get();
  }

  // Reports the start of a stage after the rounds.
  void Enter(Phase phase) const {
    if (!hooks.progress) return;
    Progress p;
    p.phase = phase;
    p.round = result.report.rounds_size() - 1;
    p.num_rounds = spec.rounds();
    p.params = result.report.final().params();
    p.flops = result.report.final().flops();
    p.fraction_done = 1.0;
    p.last_top1_accuracy = result.report.final().top1_accuracy();
    hooks.progress(p);
  }
};

// The prune -> fine-tune -> evaluate rounds (the pipeline reports those
// three phases itself, per step).
absl::StatusOr<pipeline::PipelineResult> RunRounds(
    const v1::JobSpec& spec, const torch::jit::Module& model,
    const JobDataSources& data, const SpecRunHooks& hooks) {
  PS_ASSIGN_OR_RETURN(pipeline::PipelineOptions options,
                      PipelineOptionsFromSpec(spec, hooks.intra_op_threads));
  options.finetune.checkpoint_dir = hooks.checkpoint_dir;
  options.finetune.resume = true;
  torch::jit::Module teacher;
  if (spec.finetune().distill()) {
    teacher = model.deepcopy();
    options.finetune.distillation.teacher = &teacher;
  }
  // Size and accuracy seen so far, merged into every progress event.
  struct Latest {
    int64_t params = 0;
    int64_t flops = 0;
    double top1 = -1.0;
    int finetuned_round = -1;
  };
  auto latest = std::make_shared<Latest>();
  options.snapshot = [latest](int round, const v1::ModelSnapshot& s) {
    if (round >= 0) {
      latest->params = s.params();
      latest->flops = s.flops();
    }
    if (s.top1_accuracy() >= 0.0) latest->top1 = s.top1_accuracy();
  };
  const bool finetuning = options.finetune.epochs > 0;
  if (hooks.progress) {
    options.progress = [&hooks, latest, finetuning](const Progress& step) {
      if (step.phase == Phase::kFinetune) latest->finetuned_round = step.round;
      Progress p = step;
      p.params = latest->params;
      p.flops = latest->flops;
      p.fraction_done =
          FractionDone(p, finetuning, latest->finetuned_round == p.round);
      p.last_top1_accuracy = latest->top1;
      hooks.progress(p);
    };
  }
  PS_ASSIGN_OR_RETURN(auto runner,
                      pipeline::PruningPipeline::Create(std::move(options)));
  PS_ASSIGN_OR_RETURN(pipeline::PipelineResult result,
                      runner->Run(model, data.View(), hooks.cancel));
  PS_RETURN_IF_ERROR(CheckCancelled(hooks.cancel));
  return result;
}

// The dense and the final model through the DPU-style INT8 simulation; the
// reports join the pipeline report.
absl::Status Quantize(Run& run, const torch::jit::Module& dense) {
  run.Enter(Phase::kQuantize);
  const v1::JobQuantize& q = run.spec.quantize();
  quantization::QuantizationOptions options;
  PS_ASSIGN_OR_RETURN(options.method,
                      quantization::ParseCalibrationMethod(q.method()));
  // Zero fields keep the quantizer's defaults (ResolveJobSpec fills them,
  // but the runner does not rely on it).
  if (q.percentile() > 0.0) options.percentile = q.percentile();
  if (q.calibration_images() > 0) {
    options.calibration_examples = q.calibration_images();
  }
  options.input_shape.assign(run.spec.input_shape().begin(),
                             run.spec.input_shape().end());
  options.seed = run.spec.seed();
  auto quantize = [&](const torch::jit::Module& module,
                      v1::QuantizationReport* out) -> absl::Status {
    PS_ASSIGN_OR_RETURN(
        quantization::QuantizationResult quantized,
        quantization::QuantizeForDpu(module, options, *run.images(),
                                     run.data.eval.get(), run.hooks.cancel));
    *out = std::move(quantized.report);
    return absl::OkStatus();
  };
  v1::PipelineReport& report = run.result.report;
  PS_RETURN_IF_ERROR(quantize(dense, report.mutable_dense_quantization()));
  return quantize(run.result.module, report.mutable_final_quantization());
}

absl::Status Register(Run& run) {
  run.Enter(Phase::kRegister);
  PS_ASSIGN_OR_RETURN(
      RegisteredModel stored,
      run.hooks.register_model(run.result.module, run.result.report));
  run.outcome.model_name = std::move(stored.name);
  run.outcome.model_version = stored.version;
  return absl::OkStatus();
}

absl::Status Export(Run& run) {
  run.Enter(Phase::kExport);
  if (run.hooks.export_dir.empty()) {
    return absl::FailedPreconditionError(
        "this server has no export directory configured");
  }
  const v1::JobExport& ex = run.spec.vitis_export();
  vitis::VitisExportOptions options;
  options.output_dir = run.hooks.export_dir;
  options.model_name = ex.xmodel_name();
  options.input_shape.assign(run.spec.input_shape().begin(),
                             run.spec.input_shape().end());
  options.calibration_images = ex.calibration_images();
  options.python_factory = ex.python_factory();
  if (run.result.report.has_final_quantization()) {
    run.result.report.final_quantization().SerializeToString(
        &options.quantization_report);
  }
  PS_ASSIGN_OR_RETURN(vitis::VitisExportResult exported,
                      vitis::ExportForVitis(run.result.module, run.images(),
                                            options, run.hooks.cancel));
  run.outcome.export_dir = exported.dir;
  return absl::OkStatus();
}

// Only CANCELLED fails the run; any other failure is recorded in
// compile_status and the TorchScript result stands.
absl::Status Compile(Run& run) {
  run.Enter(Phase::kCompile);
  const std::string& name = run.spec.vitis_export().xmodel_name();
  const util::CancellationToken* cancel = run.hooks.cancel;
  absl::StatusOr<vitis::CompileResult> compiled =
      run.hooks.compiler == nullptr
          ? absl::FailedPreconditionError(
                "this server has no Vitis AI compile step configured")
          : run.hooks.compiler->Compile(
                {run.outcome.export_dir, name}, [cancel] {
                  return cancel != nullptr && cancel->IsCancelled();
                });
  if (absl::IsCancelled(compiled.status())) return compiled.status();
  if (!compiled.ok()) {
    // FAILED_PRECONDITION names what to install.
    run.outcome.compile_status = compiled.status();
    return absl::OkStatus();
  }
  absl::StatusOr<RegisteredModel> stored = run.hooks.register_xmodel(
      compiled->xmodel_path,
      {run.outcome.model_name, run.outcome.model_version}, run.result.report);
  if (stored.ok()) {
    run.outcome.xmodel_name = std::move(stored->name);
    run.outcome.xmodel_version = stored->version;
  } else {
    run.outcome.compile_status = stored.status();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<JobOutcome> RunSpec(const v1::JobSpec& spec,
                                   const torch::jit::Module& model,
                                   const JobDataSources& data,
                                   const SpecRunHooks& hooks) {
  if (!hooks.register_model) {
    return absl::InvalidArgumentError("RunSpec needs a register_model hook");
  }
  PS_ASSIGN_OR_RETURN(pipeline::PipelineResult result,
                      RunRounds(spec, model, data, hooks));
  Run run{spec, hooks, data, std::move(result), {}};
  if (spec.quantize().enabled()) PS_RETURN_IF_ERROR(Quantize(run, model));
  PS_RETURN_IF_ERROR(Register(run));
  if (spec.vitis_export().enabled()) {
    PS_RETURN_IF_ERROR(Export(run));
    if (spec.vitis_export().compile()) PS_RETURN_IF_ERROR(Compile(run));
  }
  run.outcome.report = std::move(run.result.report);
  return std::move(run.outcome);
}

absl::StatusOr<torch::jit::Module> LoadScriptModule(const std::string& path,
                                                    absl::string_view what,
                                                    absl::StatusCode code) {
  try {
    torch::jit::Module module = torch::jit::load(path);
    module.eval();
    return module;
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, what, code);
  }
}

absl::Status SaveScriptModule(const torch::jit::Module& module,
                              const std::string& path) {
  try {
    module.save(path);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, absl::StrCat("saving ", path),
                              absl::StatusCode::kInternal);
  }
  return absl::OkStatus();
}

}  // namespace pruneserve::jobs
