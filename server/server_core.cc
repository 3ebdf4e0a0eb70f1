#include "server/server_core.h"

#include "absl/strings/str_cat.h"
#include "core/jobs/job_spec.h"
#include "core/torchscript/torchscript_inspector.h"
#include "core/util/intra_op_threads.h"
#include "core/util/status_macros.h"
#include "core/xmodel/xmodel_inspector.h"

namespace pruneserve {

namespace {

// The sandboxed inspector, or the in-process one without a validator
// command (see ServerCoreOptions::torchscript_validation).
absl::StatusOr<std::unique_ptr<ModelInspector>> MakeTorchScriptInspector(
    const ServerCoreOptions& options) {
  SandboxedTorchScriptInspectorOptions sandboxed =
      options.torchscript_validation;
  sandboxed.archive_limits.max_uncompressed_bytes = options.max_model_bytes;
  if (sandboxed.validator_argv.empty()) {
    TorchScriptInspectorOptions in_process;
    in_process.archive_limits = sandboxed.archive_limits;
    in_process.max_example_elements = sandboxed.max_example_elements;
    return std::make_unique<TorchScriptInspector>(in_process);
  }
  PS_ASSIGN_OR_RETURN(auto inspector,
                      SandboxedTorchScriptInspector::Create(sandboxed));
  return std::unique_ptr<ModelInspector>(std::move(inspector));
}

}  // namespace
ServerCore::ServerCore(ServerCoreOptions options)
    : options_(std::move(options)),
      registry_(std::make_shared<prometheus::Registry>()),
      process_metrics_(std::make_shared<ProcessMetricsCollector>()) {}

absl::StatusOr<std::unique_ptr<ServerCore>> ServerCore::Create(
    ServerCoreOptions options) {
  auto core = std::unique_ptr<ServerCore>(new ServerCore(std::move(options)));
  core->repository_metrics_ =
      std::make_unique<RepositoryMetrics>(*core->registry_);
  ModelRepository::InspectorMap inspectors;
  PS_ASSIGN_OR_RETURN(inspectors[v1::MODEL_FORMAT_TORCHSCRIPT],
                      MakeTorchScriptInspector(core->options_));
  inspectors[v1::MODEL_FORMAT_XMODEL] = std::make_unique<XmodelInspector>();
  ModelRepositoryOptions repo_options;
  repo_options.data_dir = core->options_.data_dir;
  repo_options.max_model_bytes = core->options_.max_model_bytes;
  repo_options.max_concurrent_validations =
      core->options_.max_concurrent_validations;
  repo_options.validation_slot_wait = core->options_.validation_slot_wait;
  PS_ASSIGN_OR_RETURN(
      core->repository_,
      ModelRepository::Create(repo_options, std::move(inspectors),
                              core->repository_metrics_.get()));
  RepositoryScrubberOptions scrub_options;
  scrub_options.interval = core->options_.scrub_interval;
  PS_ASSIGN_OR_RETURN(
      core->scrubber_,
      RepositoryScrubber::Create(scrub_options, core->repository_.get(),
                                 core->repository_metrics_.get()));
  core->inference_metrics_ =
      std::make_unique<InferenceMetrics>(*core->registry_);
  core->models_ = std::make_unique<inference::ModelManager>(
      core->repository_.get(), core->inference_metrics_.get(),
      core->options_.inference);

  core->job_metrics_ = std::make_unique<JobMetrics>(*core->registry_);
  PS_ASSIGN_OR_RETURN(core->job_store_,
                      jobs::JobStore::Create(
                          {absl::StrCat(core->options_.data_dir, "/jobs.db")}));
  vitis::ExternalCompilerOptions compiler_options = core->options_.compiler;
  if (compiler_options.work_root.empty()) {
    compiler_options.work_root =
        absl::StrCat(core->options_.data_dir, "/compile");
  }
  PS_ASSIGN_OR_RETURN(core->compiler_,
                      vitis::ExternalCompiler::Create(compiler_options));
  jobs::PipelineJobExecutorOptions executor_options;
  executor_options.export_root =
      absl::StrCat(core->options_.data_dir, "/exports");
  executor_options.compiler = core->compiler_.get();
  core->job_executor_ = std::make_unique<jobs::PipelineJobExecutor>(
      core->repository_.get(), executor_options);
  jobs::JobManagerOptions job_options = core->options_.jobs;
  if (job_options.work_root.empty()) {
    job_options.work_root = absl::StrCat(core->options_.data_dir, "/jobs");
  }
  if (!job_options.worker_thread_setup) {
    // The worker's budget, set once on its thread (instance threads get
    // theirs from ModelManager): jobs and serving never share a setting.
    job_options.worker_thread_setup = [threads = job_options.intra_op_threads] {
      SetIntraOpThreadsOfCallingThread(threads);
    };
  }
  // Under data_dir, whose lock the repository holds.
  datasets::DatasetStoreOptions dataset_options = core->options_.datasets;
  if (dataset_options.root.empty()) {
    dataset_options.root = absl::StrCat(core->options_.data_dir, "/datasets");
  }
  PS_ASSIGN_OR_RETURN(core->datasets_,
                      datasets::DatasetStore::Create(dataset_options));
  PS_ASSIGN_OR_RETURN(datasets::DataRoots roots,
                      datasets::DataRoots::Create(core->options_.data_roots));
  core->data_resolver_ = std::make_unique<datasets::JobDataResolver>(
      core->datasets_.get(), std::move(roots));
  ModelRepository* repository = core->repository_.get();
  const jobs::JobSpecLimits spec_limits = core->options_.job_spec_limits;
  jobs::DataSpecResolver data_resolver =
      [resolver = core->data_resolver_.get()](const std::string& spec) {
        return resolver->Resolve(spec);
      };
  auto resolver = [repository, spec_limits, data_resolver](
                      const v1::JobSpec& spec) -> absl::StatusOr<v1::JobSpec> {
    if (spec.model_name().empty()) {
      return absl::InvalidArgumentError("model_name: required");
    }
    PS_ASSIGN_OR_RETURN(
        v1::ModelVersion model,
        repository->GetModel(spec.model_name(), spec.model_version()));
    return jobs::ResolveJobSpec(spec, model, spec_limits, data_resolver);
  };
  PS_ASSIGN_OR_RETURN(
      core->jobs_,
      jobs::JobManager::Create(job_options, core->job_store_.get(),
                               core->job_executor_.get(), std::move(resolver),
                               core->job_metrics_.get()));
  PS_RETURN_IF_ERROR(core->jobs_->Start());
  return core;
}

absl::StatusOr<v1::Job> ServerCore::SubmitJob(const v1::JobSpec& spec,
                                              const std::string& submitted_by) {
  absl::ReaderMutexLock lock(&dataset_use_mu_);
  return jobs_->Submit(spec, submitted_by);
}

absl::StatusOr<int> ServerCore::DeleteDataset(const std::string& name,
                                              int64_t version) {
  // Until the rows are gone no submission may resolve the data set and
  // store its job: such a job would pass the check below unseen.
  absl::MutexLock lock(&dataset_use_mu_);
  // Jobs store the resolved spec (the data set's directory), so a job reads
  // a directory exactly when one of its data fields names it.
  auto check = [this, &name](const std::string& dir) -> absl::Status {
    for (v1::JobState state : {v1::JOB_STATE_QUEUED, v1::JOB_STATE_RUNNING}) {
      std::string token;
      do {
        PS_ASSIGN_OR_RETURN(jobs::JobPage page, jobs_->List(state, 100, token));
        for (const v1::Job& job : page.jobs) {
          const v1::JobData& d = job.spec().data();
          for (const std::string* spec :
               {&d.train(), &d.eval(), &d.calibration()}) {
            if (datasets::JobDataResolver::ReadsDirectory(*spec, dir)) {
              return absl::FailedPreconditionError(
                  absl::StrCat("data set ", name, " is read by job ", job.id(),
                               " (", v1::JobState_Name(state),
                               "); cancel it or wait until it ends"));
            }
          }
        }
        token = page.next_page_token;
      } while (!token.empty());
    }
    return absl::OkStatus();
  };
  return datasets_->Delete(name, version, check);
}

}  // namespace pruneserve
