#include "core/inference/model_manager.h"

#include <algorithm>
#include <cstdint>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/inference/torch_backend.h"
#include "core/util/intra_op_threads.h"
#include "core/util/limit_status.h"
#ifdef PRUNESERVE_HAVE_VART
#include "core/inference/vart/vart_backend.h"
#endif

namespace pruneserve::inference {

ModelManager::ModelManager(ModelRepository* repository,
                           InferenceMetrics* metrics,
                           ModelManagerOptions options)
    : repository_(repository), metrics_(metrics), options_(std::move(options)) {
  intra_op_threads_ = options_.intra_op_threads;
  if (intra_op_threads_ <= 0) {
    int cores = static_cast<int>(std::thread::hardware_concurrency());
    intra_op_threads_ =
        std::max(1, cores / std::max(1, options_.default_pool.instances));
  }
}

ModelManager::~ModelManager() { UnloadAll(); }

absl::StatusOr<std::unique_ptr<InferenceBackend>> ModelManager::CreateBackend(
    const v1::ModelVersion& model) const {
  // Never serve bytes that are not the ones that were uploaded, nor an
  // archive that has not passed the upload checks.
  auto path = repository_->LoadableBlobPath(model);
  if (!path.ok()) return path.status();
  if (options_.backend_factory) return options_.backend_factory(model, *path);
  switch (model.format()) {
    case v1::MODEL_FORMAT_TORCHSCRIPT: {
      TorchBackendOptions options;
      options.path = *path;
      options.example_input_shape.assign(model.example_input_shape().begin(),
                                         model.example_input_shape().end());
      auto backend = TorchBackend::Create(options);
      if (!backend.ok()) return backend.status();
      return std::unique_ptr<InferenceBackend>(std::move(*backend));
    }
    case v1::MODEL_FORMAT_XMODEL: {
#ifdef PRUNESERVE_HAVE_VART
      VartBackendOptions options;
      options.xmodel_path = *path;
      return CreateVartBackend(options);
#else
      return absl::FailedPreconditionError(absl::StrCat(
          model.name(), ":", model.version(),
          " is an xmodel, which runs on the DPU: this server was built "
          "without VART. Build it on the FPGA host's Vitis AI runtime with "
          "-DPRUNESERVE_WITH_VART=ON (see docker/Dockerfile.vitis), or serve "
          "the TorchScript version on the CPU."));
#endif
    }
    default:
      return absl::UnimplementedError(absl::StrCat(
          "no inference backend for ", v1::ModelFormat_Name(model.format())));
  }
}

absl::Status ModelManager::CheckLoadedVersionsLocked(
    const std::pair<std::string, int64_t>& key) const {
  const int64_t others =
      static_cast<int64_t>(loaded_.size()) - (loaded_.count(key) ? 1 : 0);
  if (others < options_.max_loaded_versions) return absl::OkStatus();
  return LimitExceededError(
      absl::StatusCode::kResourceExhausted, "max_loaded_versions",
      absl::StrCat(others, " model versions are loaded; the limit is ",
                   options_.max_loaded_versions,
                   " (--max_loaded_versions): unload one before loading ",
                   key.first, ":", key.second));
}

absl::Status ModelManager::CheckMemoryBudgetLocked(
    const std::pair<std::string, int64_t>& key, int64_t estimate) const {
  if (options_.loaded_models_memory_bytes <= 0) return absl::OkStatus();
  int64_t others = 0;
  for (const auto& [k, model] : loaded_) {
    if (k != key) others += model->memory_estimate_bytes;
  }
  if (others + estimate <= options_.loaded_models_memory_bytes) {
    return absl::OkStatus();
  }
  constexpr double kMiB = 1024.0 * 1024.0;
  return LimitExceededError(
      absl::StatusCode::kResourceExhausted, "loaded_models_memory_mb",
      absl::StrFormat(
          "loading %s:%d needs an estimated %.2f MiB (parameter bytes x "
          "instances) beside %.2f MiB already loaded; the budget is %.2f MiB "
          "(--loaded_models_memory_mb): unload a version or use fewer "
          "instances",
          key.first, key.second, estimate / kMiB, others / kMiB,
          options_.loaded_models_memory_bytes / kMiB));
}

absl::StatusOr<std::shared_ptr<const LoadedModel>> ModelManager::Load(
    const std::string& name, int64_t version,
    const InstancePoolOptions* pool_options) {
  const InstancePoolOptions& pool_opts =
      pool_options ? *pool_options : options_.default_pool;
  absl::Status refused;
  if (pool_opts.instances > options_.max_load_instances) {
    refused = LimitExceededError(
        absl::StatusCode::kResourceExhausted, "max_load_instances",
        absl::StrCat("instances ", pool_opts.instances,
                     " exceeds the limit of ", options_.max_load_instances,
                     " (--max_load_instances)"));
  } else if (pool_opts.batching.max_batch_size > options_.max_load_batch_size) {
    refused = LimitExceededError(
        absl::StatusCode::kResourceExhausted, "max_load_batch_size",
        absl::StrCat("max_batch_size ", pool_opts.batching.max_batch_size,
                     " exceeds the limit of ", options_.max_load_batch_size,
                     " (--max_load_batch_size)"));
  }
  if (!refused.ok()) return CountRefusal(std::move(refused));
  auto model = repository_->GetModel(name, version);
  if (!model.ok()) return model.status();
  const std::pair<std::string, int64_t> key{model->name(), model->version()};
  const int64_t estimate = std::max<int64_t>(0, model->parameter_bytes()) *
                           std::max(1, pool_opts.instances);
  {
    absl::MutexLock lock(&mu_);
    refused = CheckLoadedVersionsLocked(key);
    if (refused.ok()) refused = CheckMemoryBudgetLocked(key, estimate);
  }
  if (!refused.ok()) return CountRefusal(std::move(refused));
  auto backend = CreateBackend(*model);
  if (!backend.ok()) return backend.status();

  auto loaded = std::make_shared<LoadedModel>();
  loaded->model = *model;
  loaded->memory_estimate_bytes = estimate;
  if (metrics_) {
    loaded->metrics =
        metrics_->ForModel(model->name(), absl::StrCat(model->version()));
  }
  // Each instance thread sets its own LibTorch intra-op threads once, as it
  // starts; the setting is per thread, so loads and jobs cannot change it.
  InstancePoolOptions thread_opts = pool_opts;
  thread_opts.thread_setup = [threads = intra_op_threads_,
                              outer = pool_opts.thread_setup] {
    SetIntraOpThreadsOfCallingThread(threads);
    if (outer) outer();
  };
  // The observer owns a reference: the pool's threads may run a batch after
  // every other reference to the model is gone.
  auto pool = InstancePool::Create(
      std::shared_ptr<InferenceBackend>(std::move(*backend)), thread_opts,
      [m = loaded->metrics](int64_t rows, absl::Duration compute) {
        if (m) m->RecordBatch(rows, compute);
      });
  if (!pool.ok()) return pool.status();
  loaded->pool = *std::move(pool);

  std::shared_ptr<const LoadedModel> previous;
  {
    absl::MutexLock lock(&mu_);
    // Again: other loads may have finished while this one built its pool.
    refused = CheckLoadedVersionsLocked(key);
    if (refused.ok()) refused = CheckMemoryBudgetLocked(key, estimate);
    if (refused.ok()) {
      auto& slot = loaded_[key];
      previous = std::move(slot);
      slot = loaded;
    }
  }
  // On refusal `loaded` and its pool go here, outside the lock.
  if (!refused.ok()) return CountRefusal(std::move(refused));
  return std::shared_ptr<const LoadedModel>(loaded);
}

absl::Status ModelManager::Unload(const std::string& name, int64_t version) {
  std::vector<std::shared_ptr<const LoadedModel>> dropped;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = loaded_.begin(); it != loaded_.end();) {
      if (it->first.first == name &&
          (version == 0 || it->first.second == version)) {
        dropped.push_back(std::move(it->second));
        it = loaded_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (dropped.empty()) {
    return absl::NotFoundError(
        version == 0 ? absl::StrCat("model ", name, " is not loaded")
                     : absl::StrCat("model ", name, " version ", version,
                                    " is not loaded"));
  }
  return absl::OkStatus();
}

void ModelManager::UnloadAll() {
  std::map<std::pair<std::string, int64_t>, std::shared_ptr<const LoadedModel>>
      dropped;
  absl::MutexLock lock(&mu_);
  dropped.swap(loaded_);
}

absl::StatusOr<std::shared_ptr<const LoadedModel>> ModelManager::Get(
    const std::string& name, int64_t version) const {
  absl::MutexLock lock(&mu_);
  if (version > 0) {
    auto it = loaded_.find({name, version});
    if (it != loaded_.end()) return it->second;
    return absl::NotFoundError(
        absl::StrCat("model ", name, " version ", version, " is not loaded"));
  }
  std::shared_ptr<const LoadedModel> best;
  for (const auto& [key, model] : loaded_) {
    if (key.first == name) best = model;  // map order: highest version last
  }
  if (!best)
    return absl::NotFoundError(absl::StrCat("model ", name, " is not loaded"));
  return best;
}

std::vector<int64_t> ModelManager::LoadedVersions(
    const std::string& name) const {
  std::vector<int64_t> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [key, model] : loaded_) {
    if (key.first == name) out.push_back(key.second);
  }
  return out;
}

absl::StatusOr<std::vector<ModelIndexEntry>> ModelManager::Index() const {
  auto models = repository_->ListModels("");
  if (!models.ok()) return models.status();
  std::vector<ModelIndexEntry> out;
  absl::MutexLock lock(&mu_);
  for (const auto& m : *models) {
    out.push_back(
        {m.name(), m.version(), loaded_.count({m.name(), m.version()}) > 0});
  }
  return out;
}

absl::Status ModelManager::ValidateInputs(
    const InferenceBackend& backend, std::vector<HostTensor>& inputs) const {
  const auto& specs = backend.inputs();
  if (inputs.size() != specs.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected ", specs.size(), " input(s), got ", inputs.size()));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    HostTensor& in = inputs[i];
    const TensorSpec& spec = specs[i];
    if (in.name != spec.name && specs.size() > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("input ", i, " is named \"", in.name, "\"; expected \"",
                       spec.name, "\""));
    }
    auto count = ElementCount(in.shape, options_.request_limits.max_elements);
    if (!count.ok()) return count.status();
    if (in.shape.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input \"", in.name, "\" needs a batch dimension; got a scalar"));
    }
    if (!spec.shape.empty()) {
      bool match = in.shape.size() == spec.shape.size();
      for (size_t d = 1; match && d < in.shape.size(); ++d) {
        match = spec.shape[d] < 0 || spec.shape[d] == in.shape[d];
      }
      if (!match) {
        return absl::InvalidArgumentError(absl::StrCat(
            "input \"", in.name, "\" has shape ", ShapeToString(in.shape),
            "; expected ", ShapeToString(spec.shape), " (-1 = any)"));
      }
    }
    const int64_t expected_bytes = *count * DataTypeSize(in.dtype);
    if (static_cast<int64_t>(in.bytes.size()) != expected_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("input \"", in.name, "\" ", DataTypeName(in.dtype),
                       ShapeToString(in.shape), " needs ", expected_bytes,
                       " bytes; got ", in.bytes.size()));
    }
    in.name = spec.name;
    in = CastToFloat32(std::move(in));
  }
  return absl::OkStatus();
}

void ModelManager::RecordRefused(const LoadedModel& model,
                                 const absl::Status& status) {
  if (model.metrics) {
    model.metrics->RecordRequest(status, absl::ZeroDuration(),
                                 absl::ZeroDuration());
  }
  CountRefusal(status).IgnoreError();  // the caller returns `status` itself
}

absl::Status ModelManager::CountRefusal(absl::Status status) {
  if (metrics_) metrics_->RecordRefusal(status);
  return status;
}

absl::StatusOr<ModelManager::Prepared> ModelManager::Prepare(
    const std::string& name, int64_t version, const InputSource& source) {
  auto model = Get(name, version);
  if (!model.ok()) return model.status();
  auto admitted = AdmitInputs(
      source.size(), [&source](int i) { return source.Declared(i); },
      options_.request_limits);
  if (!admitted.ok()) {
    RecordRefused(**model, admitted.status());
    return admitted.status();
  }
  const size_t expected = (*model)->pool->backend().inputs().size();
  if (admitted->size() != expected) {
    absl::Status s = absl::InvalidArgumentError(absl::StrCat(
        "expected ", expected, " input(s), got ", admitted->size()));
    RecordRefused(**model, s);
    return s;
  }
  Prepared prepared;
  prepared.inputs.reserve(admitted->size());
  for (size_t i = 0; i < admitted->size(); ++i) {
    auto decoded = source.Decode(static_cast<int>(i), (*admitted)[i]);
    if (!decoded.ok()) {
      RecordRefused(**model, decoded.status());
      return decoded.status();
    }
    prepared.inputs.push_back(*std::move(decoded));
  }
  prepared.model = *std::move(model);
  return prepared;
}

absl::StatusOr<InferOutcome> ModelManager::Infer(
    const std::string& name, int64_t version, const InputSource& source,
    absl::Time deadline, std::function<bool()> is_cancelled) {
  const absl::Time start = absl::Now();
  auto prepared = Prepare(name, version, source);
  if (!prepared.ok()) return prepared.status();
  return Run(std::move(prepared->model), std::move(prepared->inputs), deadline,
             std::move(is_cancelled), start);
}

void ModelManager::InferAsync(
    const std::string& name, int64_t version, const InputSource& source,
    absl::Time deadline, std::function<bool()> is_cancelled,
    std::function<void(absl::StatusOr<InferOutcome>)> done) {
  const absl::Time start = absl::Now();
  auto prepared = Prepare(name, version, source);
  if (!prepared.ok()) return done(prepared.status());
  std::shared_ptr<const LoadedModel> model = std::move(prepared->model);
  auto request = MakeRequest(*model, std::move(prepared->inputs), deadline,
                             std::move(is_cancelled));
  if (!request.ok()) return done(request.status());
  if (model->metrics) model->metrics->SetPending(model->pool->pending() + 1);
  // The callback holds the metrics but not the model: it runs on the pool's
  // thread (or the unloading one), where releasing the last reference to
  // the model would destroy the pool from inside itself. The pool outlives
  // every call of its callbacks, so the raw pointer is safe there.
  InstancePool* pool = model->pool.get();
  pool->InferAsync(
      *std::move(request),
      [this, metrics = model->metrics, pool, name = model->model.name(),
       version = model->model.version(), start,
       done = std::move(done)](InferenceResult result) mutable {
        auto outputs = Conclude(metrics.get(), *pool, std::move(result), start);
        if (!outputs.ok()) return done(outputs.status());
        InferOutcome outcome;
        outcome.model_name = std::move(name);
        outcome.model_version = version;
        outcome.outputs = *std::move(outputs);
        done(std::move(outcome));
      });
}

absl::StatusOr<InferOutcome> ModelManager::Infer(
    const std::string& name, int64_t version, std::vector<HostTensor> inputs,
    absl::Time deadline, std::function<bool()> is_cancelled) {
  const absl::Time start = absl::Now();
  auto model = Get(name, version);
  if (!model.ok()) return model.status();
  auto admitted = AdmitInputs(
      static_cast<int>(std::min<size_t>(inputs.size(), INT32_MAX)),
      [&inputs](int i) {
        const HostTensor& t = inputs[i];
        return DeclaredInput{t.name, DataTypeName(t.dtype), t.shape};
      },
      options_.request_limits);
  if (!admitted.ok()) {
    RecordRefused(**model, admitted.status());
    return admitted.status();
  }
  return Run(*std::move(model), std::move(inputs), deadline,
             std::move(is_cancelled), start);
}

absl::StatusOr<InferenceRequest> ModelManager::MakeRequest(
    const LoadedModel& model, std::vector<HostTensor> inputs,
    absl::Time deadline, std::function<bool()> is_cancelled) const {
  absl::Status valid = ValidateInputs(model.pool->backend(), inputs);
  if (!valid.ok()) {
    if (model.metrics) {
      model.metrics->RecordRequest(valid, absl::ZeroDuration(),
                                   absl::ZeroDuration());
    }
    return valid;
  }
  InferenceRequest request;
  request.inputs = std::move(inputs);
  request.deadline = deadline;
  request.is_cancelled = std::move(is_cancelled);
  return request;
}

absl::StatusOr<std::vector<HostTensor>> ModelManager::Conclude(
    ModelInferenceMetrics* metrics, const InstancePool& pool,
    InferenceResult result, absl::Time start) {
  if (metrics) {
    metrics->SetPending(pool.pending());
    metrics->RecordRequest(result.outputs.status(), absl::Now() - start,
                           result.queue_time);
  }
  if (!result.outputs.ok()) return CountRefusal(result.outputs.status());
  return std::move(result.outputs);
}

absl::StatusOr<InferOutcome> ModelManager::Run(
    std::shared_ptr<const LoadedModel> model, std::vector<HostTensor> inputs,
    absl::Time deadline, std::function<bool()> is_cancelled, absl::Time start) {
  auto request =
      MakeRequest(*model, std::move(inputs), deadline, std::move(is_cancelled));
  if (!request.ok()) return request.status();
  if (model->metrics) model->metrics->SetPending(model->pool->pending() + 1);
  InferenceResult result = model->pool->Infer(*std::move(request));
  auto outputs =
      Conclude(model->metrics.get(), *model->pool, std::move(result), start);
  if (!outputs.ok()) return outputs.status();
  InferOutcome outcome;
  outcome.model_name = model->model.name();
  outcome.model_version = model->model.version();
  outcome.model = std::move(model);
  outcome.outputs = *std::move(outputs);
  return outcome;
}

}  // namespace pruneserve::inference
