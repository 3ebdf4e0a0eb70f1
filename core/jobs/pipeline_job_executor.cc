#include "core/jobs/pipeline_job_executor.h"

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/jobs/job_pipeline.h"
#include "core/jobs/job_progress.h"
#include "core/jobs/job_spec.h"
#include "core/jobs/spec_runner.h"
#include "core/spec/job_spec_defaults.h"
#include "core/util/status_macros.h"

namespace pruneserve::jobs {

PipelineJobExecutor::PipelineJobExecutor(ModelRepository* repository,
                                         PipelineJobExecutorOptions options)
    : repository_(repository), options_(options) {}

absl::StatusOr<JobOutcome> PipelineJobExecutor::Execute(
    const JobContext& context) {
  const v1::Job& job = *context.job;
  const v1::JobSpec& spec = job.spec();
  PS_ASSIGN_OR_RETURN(
      const v1::ModelVersion parent,
      repository_->GetModel(spec.model_name(), spec.model_version()));
  PS_ASSIGN_OR_RETURN(const std::string parent_path,
                      repository_->LoadableBlobPath(parent));
  PS_ASSIGN_OR_RETURN(const torch::jit::Module model,
                      LoadScriptModule(parent_path,
                                       absl::StrCat("loading ", parent.name(),
                                                    ":", parent.version()),
                                       absl::StatusCode::kFailedPrecondition));
  JobDataOptions data_options;
  data_options.loader_threads = options_.loader_threads;
  data_options.eval_batch_size = options_.eval_batch_size;
  data_options.calibration_batch_size = options_.calibration_batch_size;
  PS_ASSIGN_OR_RETURN(const JobDataSources data,
                      OpenJobData(spec, data_options));

  const std::string policy =
      pruning::PolicyKindName(spec::PolicyKindOf(spec.pruning()));
  v1::Lineage lineage;
  lineage.set_parent_name(parent.name());
  lineage.set_parent_version(parent.version());
  lineage.set_job_id(job.id());
  lineage.set_policy(policy);

  SpecRunHooks hooks;
  if (context.progress) {
    hooks.progress = [&context](const Progress& p) {
      context.progress(ToJobProgress(p));
    };
  }
  hooks.cancel = context.cancel;
  hooks.intra_op_threads = context.intra_op_threads;
  hooks.checkpoint_dir = absl::StrCat(context.work_dir, "/checkpoints");
  if (spec.vitis_export().enabled() && !options_.export_root.empty()) {
    hooks.export_dir = absl::StrCat(options_.export_root, "/", job.id());
    // A re-run after a crash starts the directory afresh.
    std::error_code ec;
    std::filesystem::remove_all(hooks.export_dir, ec);
  }
  hooks.compiler = options_.compiler;
  hooks.register_model =
      [&](const torch::jit::Module& module,
          const v1::PipelineReport& report) -> absl::StatusOr<RegisteredModel> {
    const std::string path = absl::StrCat(context.work_dir, "/result.pt");
    PS_RETURN_IF_ERROR(SaveScriptModule(module, path));
    v1::UploadModelHeader header;
    header.set_name(spec.output_name());
    header.set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
    header.set_description(
        !spec.description().empty()
            ? spec.description()
            : absl::StrCat(policy, " pruning of ", parent.name(), ":",
                           parent.version(), " by ", job.id()));
    *header.mutable_example_input_shape() = spec.input_shape();
    PS_ASSIGN_OR_RETURN(const v1::ModelVersion stored,
                        repository_->AddFile(header, path, lineage,
                                             report.SerializeAsString()));
    return RegisteredModel{stored.name(), stored.version()};
  };
  hooks.register_xmodel =
      [&](const std::string& path, const RegisteredModel& stored,
          const v1::PipelineReport& report) -> absl::StatusOr<RegisteredModel> {
    v1::UploadModelHeader header;
    header.set_name(spec.vitis_export().xmodel_name());
    header.set_format(v1::MODEL_FORMAT_XMODEL);
    header.set_description(absl::StrCat("DPU build of ", stored.name, ":",
                                        stored.version, " by ", job.id()));
    v1::Lineage xlineage = lineage;
    xlineage.set_parent_name(stored.name);
    xlineage.set_parent_version(stored.version);
    PS_ASSIGN_OR_RETURN(const v1::ModelVersion xstored,
                        repository_->AddFile(header, path, xlineage,
                                             report.SerializeAsString()));
    return RegisteredModel{xstored.name(), xstored.version()};
  };
  return RunSpec(spec, model, data, hooks);
}

}  // namespace pruneserve::jobs
