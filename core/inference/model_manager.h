// ModelManager: which model versions are loaded for inference, and the one
// entry point that validates an inference request, runs it on the version's
// InstancePool and records its metrics.
//
// Loading reads the version's bytes from the ModelRepository and builds a
// backend (LibTorch for TorchScript); unloading drops the manager's
// reference, so in-flight requests finish and the pool stops when the last
// one returns.
#ifndef PRUNESERVE_CORE_INFERENCE_MODEL_MANAGER_H_
#define PRUNESERVE_CORE_INFERENCE_MODEL_MANAGER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/inference/instance_pool.h"
#include "core/inference/request_admission.h"
#include "core/metrics/inference_metrics.h"
#include "core/repository/model_repository.h"

namespace pruneserve::inference {

// Builds the backend of `model` from its stored bytes at `blob_path`.
using BackendFactory =
    std::function<absl::StatusOr<std::unique_ptr<InferenceBackend>>(
        const v1::ModelVersion& model, const std::string& blob_path)>;

struct ModelManagerOptions {
  // Instances and batching of a model loaded without overrides.
  InstancePoolOptions default_pool;
  // LibTorch intra-op threads of each instance thread, set on the thread when
  // it starts; <= 0 picks max(1, cores / default_pool.instances). The server
  // passes its serving share (server/thread_budget.h).
  int intra_op_threads = 0;
  // What one inference request may declare (inputs, rank, elements, bytes);
  // checked before its values are decoded.
  RequestLimits request_limits;
  // Upper bounds on what one load may ask for (--max_load_instances,
  // --max_load_batch_size) and on the versions loaded at once
  // (--max_loaded_versions; reloading a loaded version does not count).
  // Exceeding one is RESOURCE_EXHAUSTED naming it.
  int max_load_instances = 16;
  int64_t max_load_batch_size = 256;
  int max_loaded_versions = 64;
  // Budget of the memory loaded versions may hold (--loaded_models_memory_mb),
  // estimated per version as its parameter bytes times its instances (each
  // instance holds its own copy of the weights). A load that would pass it
  // is RESOURCE_EXHAUSTED naming loaded_models_memory_mb; reloading a loaded
  // version counts only the new copy. <= 0: no budget.
  int64_t loaded_models_memory_bytes = int64_t{8} << 30;
  // Backends of loaded versions; empty means the built-in ones (LibTorch for
  // TorchScript, VART for xmodels when built with it). Tests pass fakes.
  BackendFactory backend_factory;
};

// A model version that is loaded and serving. The pool's batch observer
// shares ownership of `metrics`: a batch whose callers have all gone (past
// their deadline) still records into it while the pool stops, so the metrics
// must outlive the pool's threads whatever the member order. `metrics` is
// declared first so that it is also destroyed last.
struct LoadedModel {
  v1::ModelVersion model;
  // Null when the manager has no InferenceMetrics.
  std::shared_ptr<ModelInferenceMetrics> metrics;
  std::shared_ptr<InstancePool> pool;
  // Estimated memory it holds: parameter bytes times instances.
  int64_t memory_estimate_bytes = 0;
};

// Status of a repository version for the index.
struct ModelIndexEntry {
  std::string name;
  int64_t version = 0;
  bool ready = false;
};

struct InferOutcome {
  // The version that ran. Null from InferAsync: its callback may run on the
  // model's own instance thread, where dropping the last reference to the
  // model would make the pool join itself.
  std::shared_ptr<const LoadedModel> model;
  // Name and version of the model that ran (both entry points).
  std::string model_name;
  int64_t model_version = 0;
  std::vector<HostTensor> outputs;
};

// Thread-safe. Borrows the repository and metrics (both must outlive it).
class ModelManager {
 public:
  ModelManager(ModelRepository* repository, InferenceMetrics* metrics,
               ModelManagerOptions options);
  ~ModelManager();

  // Loads `name` at `version` (0 = latest in the repository), replacing a
  // loaded copy of the same version. RESOURCE_EXHAUSTED naming the limit
  // when the pool asks for more than max_load_instances or
  // max_load_batch_size, when max_loaded_versions other versions are
  // loaded, or when its estimated memory would pass
  // loaded_models_memory_bytes (checked before and after the load). NOT_FOUND
  // for unknown models, DATA_LOSS when its stored bytes do not match their
  // sha256, INVALID_ARGUMENT when the model cannot be served,
  // FAILED_PRECONDITION for an xmodel on a server built without VART,
  // UNIMPLEMENTED for a format without a backend. Blocks while the model loads.
  absl::StatusOr<std::shared_ptr<const LoadedModel>> Load(
      const std::string& name, int64_t version,
      const InstancePoolOptions* pool_options = nullptr);

  // Unloads one version (0 = every loaded version of `name`). NOT_FOUND when
  // nothing was loaded.
  absl::Status Unload(const std::string& name, int64_t version);

  // A loaded version (0 = the highest loaded). NOT_FOUND naming what is
  // missing.
  absl::StatusOr<std::shared_ptr<const LoadedModel>> Get(
      const std::string& name, int64_t version) const;

  // Loaded versions of `name`, ascending.
  std::vector<int64_t> LoadedVersions(const std::string& name) const;

  // Every repository version with whether it is loaded.
  absl::StatusOr<std::vector<ModelIndexEntry>> Index() const;

  // Looks the model up (NOT_FOUND first, before anything is decoded),
  // admits what `source` declares against options.request_limits and the
  // model's input count (see AdmitInputs: INVALID_ARGUMENT or
  // RESOURCE_EXHAUSTED naming the limit), decodes the inputs, then runs them
  // as the overload below does. Blocks until the result, the deadline or
  // cancellation.
  absl::StatusOr<InferOutcome> Infer(const std::string& name, int64_t version,
                                     const InputSource& source,
                                     absl::Time deadline,
                                     std::function<bool()> is_cancelled);

  // The same as the InputSource overload of Infer, without waiting: the
  // request is looked up, admitted and decoded on the calling thread (so
  // `source` need only live for this call), then queued; `done` receives the
  // outcome exactly once, on the calling thread for a refusal or on the
  // thread that finished the request (an instance thread, or the one that
  // unloads the model). No thread waits for it meanwhile. A request still
  // queued at `deadline` is failed with DEADLINE_EXCEEDED when an instance
  // reaches it; callers that must answer at the deadline keep a timer.
  void InferAsync(const std::string& name, int64_t version,
                  const InputSource& source, absl::Time deadline,
                  std::function<bool()> is_cancelled,
                  std::function<void(absl::StatusOr<InferOutcome>)> done);

  // Admits `inputs` against options.request_limits, validates them against
  // the model's specs (count, names, datatypes, shapes, byte sizes:
  // INVALID_ARGUMENT naming expected vs got), converts integer images to
  // FP32, runs them and records metrics. Blocks until the result, the
  // deadline or cancellation.
  absl::StatusOr<InferOutcome> Infer(const std::string& name, int64_t version,
                                     std::vector<HostTensor> inputs,
                                     absl::Time deadline,
                                     std::function<bool()> is_cancelled);

  // Unloads everything (server shutdown).
  void UnloadAll();

 private:
  absl::Status ValidateInputs(const InferenceBackend& backend,
                              std::vector<HostTensor>& inputs) const;
  // Validates, queues and runs admitted inputs on `model`; records metrics.
  absl::StatusOr<InferOutcome> Run(std::shared_ptr<const LoadedModel> model,
                                   std::vector<HostTensor> inputs,
                                   absl::Time deadline,
                                   std::function<bool()> is_cancelled,
                                   absl::Time start);
  // The looked-up, admitted and decoded inputs of an InputSource request;
  // an error already counted.
  struct Prepared {
    std::shared_ptr<const LoadedModel> model;
    std::vector<HostTensor> inputs;
  };
  absl::StatusOr<Prepared> Prepare(const std::string& name, int64_t version,
                                   const InputSource& source);
  // Validates the inputs for `model` and builds the pool request; the error
  // is already counted.
  absl::StatusOr<InferenceRequest> MakeRequest(
      const LoadedModel& model, std::vector<HostTensor> inputs,
      absl::Time deadline, std::function<bool()> is_cancelled) const;
  // Records the request's metrics (`metrics` may be null) and returns its
  // outputs or its counted error. `pool` is the one that ran it.
  absl::StatusOr<std::vector<HostTensor>> Conclude(
      ModelInferenceMetrics* metrics, const InstancePool& pool,
      InferenceResult result, absl::Time start);
  // RESOURCE_EXHAUSTED when loading `key` would pass max_loaded_versions.
  absl::Status CheckLoadedVersionsLocked(
      const std::pair<std::string, int64_t>& key) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // RESOURCE_EXHAUSTED when `estimate` more bytes for `key` (replacing a
  // loaded copy of it) would pass loaded_models_memory_bytes.
  absl::Status CheckMemoryBudgetLocked(
      const std::pair<std::string, int64_t>& key, int64_t estimate) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts a request refused before it was queued.
  void RecordRefused(const LoadedModel& model, const absl::Status& status);
  // Counts `status` in the admission refusals (when there are metrics) and
  // returns it.
  absl::Status CountRefusal(absl::Status status);
  // The backend for the model's format: LibTorch for TorchScript, VART for
  // xmodels when the server was built with it.
  absl::StatusOr<std::unique_ptr<InferenceBackend>> CreateBackend(
      const v1::ModelVersion& model) const;

  ModelRepository* const repository_;
  InferenceMetrics* const metrics_;
  const ModelManagerOptions options_;
  int intra_op_threads_ = 1;

  mutable absl::Mutex mu_;
  std::map<std::pair<std::string, int64_t>, std::shared_ptr<const LoadedModel>>
      loaded_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pruneserve::inference

#endif  // PRUNESERVE_CORE_INFERENCE_MODEL_MANAGER_H_
