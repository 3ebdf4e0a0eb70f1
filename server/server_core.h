// ServerCore owns everything the RPC services act on: the model repository,
// the metrics registry and (in later layers) the job and inference pools.
// Services hold a non-owning pointer to it.
#ifndef PRUNESERVE_SERVER_SERVER_CORE_H_
#define PRUNESERVE_SERVER_SERVER_CORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/datasets/dataset_store.h"
#include "core/datasets/job_data_resolver.h"
#include "core/inference/model_manager.h"
#include "core/jobs/job_manager.h"
#include "core/jobs/job_spec.h"
#include "core/jobs/job_store.h"
#include "core/jobs/pipeline_job_executor.h"
#include "core/metrics/inference_metrics.h"
#include "core/metrics/job_metrics.h"
#include "core/metrics/process_metrics_collector.h"
#include "core/metrics/repository_metrics.h"
#include "core/repository/model_repository.h"
#include "core/repository/repository_scrubber.h"
#include "core/torchscript/sandboxed_torchscript_inspector.h"
#include "prometheus/registry.h"

namespace pruneserve {

struct ServerCoreOptions {
  // Root of all persistent state (models.db, blobs/).
  std::string data_dir = "./var/pruneserve";
  // Largest accepted model upload in bytes, as uploaded and (TorchScript
  // archives are zip files) uncompressed.
  int64_t max_model_bytes = int64_t{2} << 30;
  // How uploaded TorchScript is validated. main.cc sets validator_argv to
  // this binary in validator mode, so archives are loaded only inside a
  // sandboxed validator process. An empty validator_argv validates in this
  // process instead (same checks, no process boundary), for ServerCores
  // embedded in tests and tools. archive_limits.max_uncompressed_bytes is
  // replaced by max_model_bytes.
  SandboxedTorchScriptInspectorOptions torchscript_validation;
  // Upload checks (validator processes) running at once, and the longest
  // wait for a slot before RESOURCE_EXHAUSTED.
  int max_concurrent_validations = 2;
  absl::Duration validation_slot_wait = absl::Seconds(120);
  // Time between background scrubs, which re-hash every stored blob and
  // mark versions with missing or altered bytes corrupt; <= 0: none.
  absl::Duration scrub_interval = absl::Hours(24);
  // Inference instances, batching and threads of loaded models.
  inference::ModelManagerOptions inference;
  // Pruning-job workers, queue and threads. An empty work_root means
  // <data_dir>/jobs.
  jobs::JobManagerOptions jobs;
  // Sizes a submitted job spec may not exceed (checked at SubmitJob).
  jobs::JobSpecLimits job_spec_limits;
  // Uploaded data sets: size and entry caps. An empty root means
  // <data_dir>/datasets.
  datasets::DatasetStoreOptions datasets;
  // Server directories job specs may name by path (--data_roots), each
  // resolved with realpath; empty: no server path is accepted, only
  // uploaded data sets (dataset:NAME).
  std::vector<std::string> data_roots;
  // The Vitis AI compile step of jobs with vitis_export.compile. An empty
  // work_root means <data_dir>/compile. Export directories go to
  // <data_dir>/exports.
  vitis::ExternalCompilerOptions compiler = [] {
    vitis::ExternalCompilerOptions o;
    o.work_root.clear();
    return o;
  }();
};

// Thread-safe: the members are thread-safe and fixed after Create().
class ServerCore {
 public:
  // Opens the repository and the job database (jobs.db) under
  // options.data_dir and starts the job workers, which resume jobs a
  // previous process left unfinished. Errors name the file or directory that
  // could not be opened.
  static absl::StatusOr<std::unique_ptr<ServerCore>> Create(
      ServerCoreOptions options);

  ModelRepository& repository() { return *repository_; }
  RepositoryScrubber& scrubber() { return *scrubber_; }
  inference::ModelManager& models() { return *models_; }
  jobs::JobManager& jobs() { return *jobs_; }
  datasets::DatasetStore& datasets() { return *datasets_; }

  // Submits a job (JobManager::Submit, same errors). Use this rather than
  // jobs().Submit() wherever data sets can be deleted concurrently: the
  // spec's data sets are resolved and the job stored as one step against
  // DeleteDataset, so a delete never removes files between the two.
  absl::StatusOr<v1::Job> SubmitJob(const v1::JobSpec& spec,
                                    const std::string& submitted_by);
  // Deletes a data set version (all with version 0) unless a queued or
  // running job reads files that would go: then FAILED_PRECONDITION naming
  // the job (cancel it or wait). NOT_FOUND when nothing matched. Waits for
  // submissions in progress. Blocks on the databases and disk I/O.
  absl::StatusOr<int> DeleteDataset(const std::string& name, int64_t version);
  // Registry of all pruneserve_* metrics, exposed by the Server.
  const std::shared_ptr<prometheus::Registry>& metrics_registry() const {
    return registry_;
  }
  // process_* metrics, exposed next to the registry.
  const std::shared_ptr<ProcessMetricsCollector>& process_metrics() const {
    return process_metrics_;
  }
  // Scrape-time throughput gauges of loaded models.
  std::shared_ptr<prometheus::Collectable> throughput_metrics() const {
    return inference_metrics_->throughput_collector();
  }
  const ServerCoreOptions& options() const { return options_; }

 private:
  explicit ServerCore(ServerCoreOptions options);

  ServerCoreOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<ProcessMetricsCollector> process_metrics_;
  std::unique_ptr<RepositoryMetrics> repository_metrics_;
  std::unique_ptr<ModelRepository> repository_;
  // Declared after the repository it reads: its thread is joined first.
  std::unique_ptr<RepositoryScrubber> scrubber_;
  std::unique_ptr<InferenceMetrics> inference_metrics_;
  // Declared after the repository: unloads models before it goes away.
  std::unique_ptr<inference::ModelManager> models_;
  std::unique_ptr<JobMetrics> job_metrics_;
  std::unique_ptr<jobs::JobStore> job_store_;
  std::unique_ptr<vitis::ExternalCompiler> compiler_;
  std::unique_ptr<jobs::PipelineJobExecutor> job_executor_;
  std::unique_ptr<datasets::DatasetStore> datasets_;
  std::unique_ptr<datasets::JobDataResolver> data_resolver_;
  // Declared last: its workers stop before anything they use goes away.
  std::unique_ptr<jobs::JobManager> jobs_;
  // Held shared by SubmitJob and exclusively by DeleteDataset.
  absl::Mutex dataset_use_mu_;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_SERVER_CORE_H_
