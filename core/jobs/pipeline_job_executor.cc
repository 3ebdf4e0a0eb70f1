#include "core/jobs/pipeline_job_executor.h"

#include <torch/script.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/export/vitis_export.h"
#include "core/jobs/job_pipeline.h"
#include "core/pipeline/pruning_pipeline.h"
#include "core/quantization/dpu_quantizer.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"

namespace pruneserve::jobs {
namespace {

// Share of a round spent in each phase, for the whole-job completion
// estimate: pruning is quick, fine-tuning dominates.
constexpr double kPruneShare = 0.05;
constexpr double kFinetuneShare = 0.85;

double Fraction(int64_t step, int64_t steps) {
  return steps > 0 ? std::clamp(static_cast<double>(step) / steps, 0.0, 1.0)
                   : 0.0;
}

// Whole-job completion in [0, 1] for a pipeline progress event.
// `finetuned` says whether this round's fine-tuning has run (an evaluation
// before it is the quick look right after pruning).
double FractionDone(const pipeline::PipelineProgress& p, bool finetuning,
                    bool finetuned) {
  if (p.round < 0 || p.num_rounds <= 0) return 0.0;
  const double prune = kPruneShare;
  const double finetune = finetuning ? kFinetuneShare : 0.0;
  const double evaluate = 1.0 - prune - finetune;
  double within = 0.0;
  switch (p.phase) {
    case pipeline::PipelinePhase::kPrune:
      within = prune * Fraction(p.step, p.steps_per_epoch);
      break;
    case pipeline::PipelinePhase::kFinetune:
      within =
          prune +
          finetune * (p.num_epochs > 0
                          ? (p.epoch + Fraction(p.step, p.steps_per_epoch)) /
                                p.num_epochs
                          : 1.0);
      break;
    case pipeline::PipelinePhase::kEvaluate:
      // The evaluation after fine-tuning ends the round; the one right after
      // pruning is counted as part of pruning.
      within = finetuning && !finetuned
                   ? prune
                   : prune + finetune +
                         evaluate * Fraction(p.step, p.steps_per_epoch);
      break;
  }
  return std::clamp((p.round + std::min(within, 1.0)) / p.num_rounds, 0.0, 1.0);
}

// Reports a stage boundary ("quantize", "export", "compile", "register").
void ReportStage(const JobContext& context, const std::string& stage,
                 const v1::PipelineReport& report) {
  if (!context.progress) return;
  v1::JobProgress p;
  p.set_phase(stage);
  p.set_round(report.rounds_size() - 1);
  p.set_num_rounds(context.job->spec().rounds());
  p.set_params(report.final().params());
  p.set_flops(report.final().flops());
  p.set_fraction_done(1.0);
  p.set_last_top1_accuracy(report.final().top1_accuracy());
  context.progress(p);
}

// The quantize stage: the dense and the final model through the DPU-style
// INT8 simulation, reports into `report`.
absl::Status QuantizeBoth(const v1::JobSpec& spec,
                          const torch::jit::Module& dense,
                          const torch::jit::Module& pruned,
                          data::BatchSource& calibration,
                          data::BatchSource* eval,
                          const util::CancellationToken* cancel,
                          v1::PipelineReport& report) {
  quantization::QuantizationOptions options;
  PS_ASSIGN_OR_RETURN(options.method, quantization::ParseCalibrationMethod(
                                          spec.quantize().method()));
  // Zero fields keep the quantizer's defaults (ResolveJobSpec fills them,
  // but the executor does not rely on it).
  if (spec.quantize().percentile() > 0.0) {
    options.percentile = spec.quantize().percentile();
  }
  if (spec.quantize().calibration_images() > 0) {
    options.calibration_examples = spec.quantize().calibration_images();
  }
  options.input_shape.assign(spec.input_shape().begin(),
                             spec.input_shape().end());
  options.seed = spec.seed();
  PS_ASSIGN_OR_RETURN(
      quantization::QuantizationResult dense_q,
      quantization::QuantizeForDpu(dense, options, calibration, eval, cancel));
  *report.mutable_dense_quantization() = std::move(dense_q.report);
  PS_ASSIGN_OR_RETURN(
      quantization::QuantizationResult pruned_q,
      quantization::QuantizeForDpu(pruned, options, calibration, eval, cancel));
  *report.mutable_final_quantization() = std::move(pruned_q.report);
  return absl::OkStatus();
}

}  // namespace

PipelineJobExecutor::PipelineJobExecutor(ModelRepository* repository,
                                         PipelineJobExecutorOptions options)
    : repository_(repository), options_(options) {}

absl::StatusOr<JobOutcome> PipelineJobExecutor::Execute(
    const JobContext& context) {
  const v1::Job& job = *context.job;
  const v1::JobSpec& spec = job.spec();
  PS_ASSIGN_OR_RETURN(
      v1::ModelVersion parent,
      repository_->GetModel(spec.model_name(), spec.model_version()));
  PS_ASSIGN_OR_RETURN(std::string parent_path,
                      repository_->VerifiedBlobPath(parent));
  torch::jit::Module model;
  try {
    model = torch::jit::load(parent_path);
    model.eval();
  } catch (const std::exception& e) {
    return TorchErrorToStatus(
        e, absl::StrCat("loading ", parent.name(), ":", parent.version()),
        absl::StatusCode::kFailedPrecondition);
  }

  JobDataOptions data_options;
  data_options.loader_threads = options_.loader_threads;
  data_options.eval_batch_size = options_.eval_batch_size;
  data_options.calibration_batch_size = options_.calibration_batch_size;
  PS_ASSIGN_OR_RETURN(JobDataSources sources, OpenJobData(spec, data_options));

  PS_ASSIGN_OR_RETURN(pipeline::PipelineOptions options,
                      PipelineOptionsFromSpec(spec, context.intra_op_threads));
  options.finetune.checkpoint_dir =
      absl::StrCat(context.work_dir, "/checkpoints");
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
  auto finetuned_round = std::make_shared<int>(-1);
  options.progress = [&context, latest, finetuning,
                      finetuned_round](const pipeline::PipelineProgress& p) {
    if (!context.progress) return;
    if (p.phase == pipeline::PipelinePhase::kFinetune) {
      *finetuned_round = p.round;
    }
    v1::JobProgress out;
    out.set_phase(pipeline::PipelinePhaseName(p.phase));
    out.set_round(p.round);
    out.set_num_rounds(p.num_rounds);
    out.set_epoch(p.epoch);
    out.set_num_epochs(p.num_epochs);
    out.set_step(p.step);
    out.set_steps_per_epoch(p.steps_per_epoch);
    out.set_loss(p.loss);
    out.set_accuracy(p.accuracy);
    out.set_params(latest->params);
    out.set_flops(latest->flops);
    out.set_images_per_second(p.images_per_second);
    out.set_eta_seconds(p.eta_seconds);
    out.set_fraction_done(
        FractionDone(p, finetuning, *finetuned_round == p.round));
    out.set_last_top1_accuracy(latest->top1);
    context.progress(out);
  };

  PS_ASSIGN_OR_RETURN(auto runner,
                      pipeline::PruningPipeline::Create(std::move(options)));
  PS_ASSIGN_OR_RETURN(pipeline::PipelineResult result,
                      runner->Run(model, sources.View(), context.cancel));
  if (context.cancel != nullptr && context.cancel->IsCancelled()) {
    return absl::CancelledError("job cancelled");
  }

  data::BatchSource* images = sources.calibration != nullptr
                                  ? sources.calibration.get()
                                  : sources.train.get();
  if (spec.quantize().enabled()) {
    ReportStage(context, "quantize", result.report);
    PS_RETURN_IF_ERROR(QuantizeBoth(spec, model, result.module, *images,
                                    sources.eval.get(), context.cancel,
                                    result.report));
  }

  ReportStage(context, "register", result.report);
  const std::string result_path = absl::StrCat(context.work_dir, "/result.pt");
  try {
    result.module.save(result_path);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, absl::StrCat("saving ", result_path),
                              absl::StatusCode::kInternal);
  }
  v1::UploadModelHeader header;
  header.set_name(spec.output_name());
  header.set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
  header.set_description(
      !spec.description().empty()
          ? spec.description()
          : absl::StrCat(spec.pruning().policy(), " pruning of ", parent.name(),
                         ":", parent.version(), " by ", job.id()));
  *header.mutable_example_input_shape() = spec.input_shape();
  v1::Lineage lineage;
  lineage.set_parent_name(parent.name());
  lineage.set_parent_version(parent.version());
  lineage.set_job_id(job.id());
  lineage.set_policy(spec.pruning().policy());
  std::string report_bytes;
  result.report.SerializeToString(&report_bytes);
  PS_ASSIGN_OR_RETURN(
      v1::ModelVersion stored,
      repository_->AddFile(header, result_path, lineage, report_bytes));
  JobOutcome outcome;
  outcome.model_name = stored.name();
  outcome.model_version = stored.version();

  const v1::JobExport& ex = spec.vitis_export();
  if (ex.enabled()) {
    ReportStage(context, "export", result.report);
    if (options_.export_root.empty()) {
      return absl::FailedPreconditionError(
          "this server has no export directory configured");
    }
    vitis::VitisExportOptions export_options;
    export_options.output_dir =
        absl::StrCat(options_.export_root, "/", job.id());
    // A re-run after a crash starts the directory afresh.
    std::error_code ec;
    std::filesystem::remove_all(export_options.output_dir, ec);
    export_options.model_name = ex.xmodel_name();
    export_options.input_shape.assign(spec.input_shape().begin(),
                                      spec.input_shape().end());
    export_options.calibration_images = ex.calibration_images();
    export_options.python_factory = ex.python_factory();
    if (result.report.has_final_quantization()) {
      result.report.final_quantization().SerializeToString(
          &export_options.quantization_report);
    }
    PS_ASSIGN_OR_RETURN(vitis::VitisExportResult exported,
                        vitis::ExportForVitis(result.module, images,
                                              export_options, context.cancel));
    outcome.export_dir = exported.dir;
    if (ex.compile()) {
      ReportStage(context, "compile", result.report);
      absl::StatusOr<vitis::CompileResult> compiled =
          options_.compiler == nullptr
              ? absl::FailedPreconditionError(
                    "this server has no Vitis AI compile step configured")
              : options_.compiler->Compile(
                    {exported.dir, ex.xmodel_name()}, [&context] {
                      return context.cancel != nullptr &&
                             context.cancel->IsCancelled();
                    });
      if (absl::IsCancelled(compiled.status())) return compiled.status();
      if (compiled.ok()) {
        v1::UploadModelHeader xheader;
        xheader.set_name(ex.xmodel_name());
        xheader.set_format(v1::MODEL_FORMAT_XMODEL);
        xheader.set_description(absl::StrCat("DPU build of ", stored.name(),
                                             ":", stored.version(), " by ",
                                             job.id()));
        v1::Lineage xlineage = lineage;
        xlineage.set_parent_name(stored.name());
        xlineage.set_parent_version(stored.version());
        auto xstored = repository_->AddFile(xheader, compiled->xmodel_path,
                                            xlineage, report_bytes);
        if (xstored.ok()) {
          outcome.xmodel_name = xstored->name();
          outcome.xmodel_version = xstored->version();
        } else {
          outcome.compile_status = xstored.status();
        }
      } else {
        // The TorchScript result stands; the job records why there is no
        // xmodel (FAILED_PRECONDITION names what to install).
        outcome.compile_status = compiled.status();
      }
    }
  }
  outcome.report = std::move(result.report);
  return outcome;
}

}  // namespace pruneserve::jobs
