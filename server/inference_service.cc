#include "server/inference_service.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "server/grpc_status.h"
#include "server/kserve_codec.h"

namespace pruneserve {
namespace {

constexpr char kServerName[] = "pruneserve";
constexpr char kServerVersion[] = "0.1.0";

// Reads an integer load parameter given as int64_param or string_param.
absl::StatusOr<int64_t> IntParameter(
    const ::inference::RepositoryModelLoadRequest& request,
    const std::string& key, int64_t fallback) {
  auto it = request.parameters().find(key);
  if (it == request.parameters().end()) return fallback;
  const auto& p = it->second;
  if (p.has_int64_param()) return p.int64_param();
  int64_t v = 0;
  if (p.has_string_param() && absl::SimpleAtoi(p.string_param(), &v)) return v;
  return absl::InvalidArgumentError(
      absl::StrCat("load parameter \"", key, "\" must be an integer"));
}

}  // namespace

grpc::Status InferenceService::ServerLive(grpc::ServerContext*,
                                          const ::inference::ServerLiveRequest*,
                                          ::inference::ServerLiveResponse* r) {
  r->set_live(true);
  return grpc::Status::OK;
}

grpc::Status InferenceService::ServerReady(
    grpc::ServerContext*, const ::inference::ServerReadyRequest*,
    ::inference::ServerReadyResponse* r) {
  r->set_ready(ready_.load());
  return grpc::Status::OK;
}

grpc::Status InferenceService::ModelReady(
    grpc::ServerContext*, const ::inference::ModelReadyRequest* q,
    ::inference::ModelReadyResponse* r) {
  auto version = ParseModelVersion(q->version());
  if (!version.ok()) return ToGrpcStatus(version.status());
  r->set_ready(core_->models().Get(q->name(), *version).ok());
  return grpc::Status::OK;
}

grpc::Status InferenceService::ServerMetadata(
    grpc::ServerContext*, const ::inference::ServerMetadataRequest*,
    ::inference::ServerMetadataResponse* r) {
  r->set_name(kServerName);
  r->set_version(kServerVersion);
  r->add_extensions("model_repository");
  return grpc::Status::OK;
}

grpc::Status InferenceService::ModelMetadata(
    grpc::ServerContext*, const ::inference::ModelMetadataRequest* q,
    ::inference::ModelMetadataResponse* r) {
  auto version = ParseModelVersion(q->version());
  if (!version.ok()) return ToGrpcStatus(version.status());
  auto model = core_->models().Get(q->name(), *version);
  if (!model.ok()) return ToGrpcStatus(model.status());
  r->set_name(q->name());
  for (int64_t v : core_->models().LoadedVersions(q->name())) {
    r->add_versions(absl::StrCat(v));
  }
  const auto& backend = (*model)->pool->backend();
  r->set_platform(backend.platform());
  auto fill = [](const inference::TensorSpec& spec,
                 ::inference::ModelMetadataResponse::TensorMetadata* t) {
    t->set_name(spec.name);
    t->set_datatype(inference::DataTypeName(spec.dtype));
    for (int64_t d : spec.shape) t->add_shape(d);
  };
  for (const auto& spec : backend.inputs()) fill(spec, r->add_inputs());
  for (const auto& spec : backend.outputs()) fill(spec, r->add_outputs());
  return grpc::Status::OK;
}

grpc::Status InferenceService::ModelInfer(
    grpc::ServerContext* context, const ::inference::ModelInferRequest* q,
    ::inference::ModelInferResponse* r) {
  auto version = ParseModelVersion(q->model_version());
  if (!version.ok()) return ToGrpcStatus(version.status());
  auto source = KServeInputSource::Create(*q);
  if (!source.ok()) return ToGrpcStatus(source.status());
  absl::Time deadline = absl::FromChrono(context->deadline());
  // The core looks the model up and checks what the request declares before
  // anything is decoded.
  auto outcome =
      core_->models().Infer(q->model_name(), *version, *source, deadline,
                            [context] { return context->IsCancelled(); });
  if (!outcome.ok()) return ToGrpcStatus(outcome.status());
  r->set_model_name(outcome->model->model.name());
  r->set_model_version(absl::StrCat(outcome->model->model.version()));
  r->set_id(q->id());
  return ToGrpcStatus(EncodeOutputs(*q, std::move(outcome->outputs),
                                    q->raw_input_contents_size() > 0, r));
}

grpc::Status InferenceService::RepositoryIndex(
    grpc::ServerContext*, const ::inference::RepositoryIndexRequest* q,
    ::inference::RepositoryIndexResponse* r) {
  auto index = core_->models().Index();
  if (!index.ok()) return ToGrpcStatus(index.status());
  for (const auto& e : *index) {
    if (q->ready() && !e.ready) continue;
    auto* m = r->add_models();
    m->set_name(e.name);
    m->set_version(absl::StrCat(e.version));
    m->set_state(e.ready ? "READY" : "UNAVAILABLE");
    if (!e.ready) m->set_reason("not loaded");
  }
  return grpc::Status::OK;
}

grpc::Status InferenceService::RepositoryModelLoad(
    grpc::ServerContext*, const ::inference::RepositoryModelLoadRequest* q,
    ::inference::RepositoryModelLoadResponse*) {
  inference::InstancePoolOptions pool = core_->options().inference.default_pool;
  auto version = IntParameter(*q, "version", 0);
  auto instances = IntParameter(*q, "instances", pool.instances);
  auto max_batch =
      IntParameter(*q, "max_batch_size", pool.batching.max_batch_size);
  for (const auto* s : {&version, &instances, &max_batch}) {
    if (!s->ok()) return ToGrpcStatus(s->status());
  }
  // Clamped, not wrapped: 2^32 + 1 must stay "too many" for the core's
  // limit check.
  pool.instances =
      static_cast<int>(std::clamp<int64_t>(*instances, INT32_MIN, INT32_MAX));
  pool.batching.max_batch_size = *max_batch;
  auto loaded = core_->models().Load(q->model_name(), *version, &pool);
  return ToGrpcStatus(loaded.status());
}

grpc::Status InferenceService::RepositoryModelUnload(
    grpc::ServerContext*, const ::inference::RepositoryModelUnloadRequest* q,
    ::inference::RepositoryModelUnloadResponse*) {
  int64_t version = 0;
  auto it = q->parameters().find("version");
  if (it != q->parameters().end() && it->second.has_int64_param()) {
    version = it->second.int64_param();
  }
  return ToGrpcStatus(core_->models().Unload(q->model_name(), version));
}

}  // namespace pruneserve
