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

grpc::ServerUnaryReactor* InferenceService::ServerLive(
    grpc::CallbackServerContext* ctx, const ::inference::ServerLiveRequest*,
    ::inference::ServerLiveResponse* r) {
  r->set_live(true);
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ServerReady(
    grpc::CallbackServerContext* ctx, const ::inference::ServerReadyRequest*,
    ::inference::ServerReadyResponse* r) {
  r->set_ready(ready_.load());
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ModelReady(
    grpc::CallbackServerContext* ctx, const ::inference::ModelReadyRequest* q,
    ::inference::ModelReadyResponse* r) {
  auto version = ParseModelVersion(q->version());
  if (!version.ok()) return FinishNow(ctx, ToGrpcStatus(version.status()));
  r->set_ready(core_->models().Get(q->name(), *version).ok());
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ServerMetadata(
    grpc::CallbackServerContext* ctx, const ::inference::ServerMetadataRequest*,
    ::inference::ServerMetadataResponse* r) {
  r->set_name(kServerName);
  r->set_version(kServerVersion);
  r->add_extensions("model_repository");
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ModelMetadata(
    grpc::CallbackServerContext* ctx,
    const ::inference::ModelMetadataRequest* q,
    ::inference::ModelMetadataResponse* r) {
  auto version = ParseModelVersion(q->version());
  if (!version.ok()) return FinishNow(ctx, ToGrpcStatus(version.status()));
  auto model = core_->models().Get(q->name(), *version);
  if (!model.ok()) return FinishNow(ctx, ToGrpcStatus(model.status()));
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
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ModelInfer(
    grpc::CallbackServerContext* ctx, const ::inference::ModelInferRequest* q,
    ::inference::ModelInferResponse* r) {
  auto version = ParseModelVersion(q->model_version());
  if (!version.ok()) return FinishNow(ctx, ToGrpcStatus(version.status()));
  auto source = KServeInputSource::Create(*q);
  if (!source.ok()) return FinishNow(ctx, ToGrpcStatus(source.status()));
  auto [reactor, call] = UnaryCall::Start(ctx, *runtime_);
  // Decoded here, on the gRPC thread (the core checks what the request
  // declares first); then queued. The callback fills the response only
  // while the call is live, when `q` and `r` still exist.
  core_->models().InferAsync(
      q->model_name(), *version, *source,
      EffectiveDeadline(*ctx, runtime_->default_deadline),
      [call = call] { return call->cancelled(); },
      [call = call, q, r](absl::StatusOr<inference::InferOutcome> outcome) {
        call->Finish([&]() -> grpc::Status {
          if (!outcome.ok()) return ToGrpcStatus(outcome.status());
          r->set_model_name(outcome->model_name);
          r->set_model_version(absl::StrCat(outcome->model_version));
          r->set_id(q->id());
          return ToGrpcStatus(EncodeOutputs(*q, std::move(outcome->outputs),
                                            q->raw_input_contents_size() > 0,
                                            r));
        });
      });
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::RepositoryIndex(
    grpc::CallbackServerContext* ctx,
    const ::inference::RepositoryIndexRequest* q,
    ::inference::RepositoryIndexResponse* r) {
  return RunBlocking(
      ctx, *runtime_, r,
      [core = core_, ready_only = q->ready()]()
          -> absl::StatusOr<::inference::RepositoryIndexResponse> {
        auto index = core->models().Index();
        if (!index.ok()) return index.status();
        ::inference::RepositoryIndexResponse response;
        for (const auto& e : *index) {
          if (ready_only && !e.ready) continue;
          auto* m = response.add_models();
          m->set_name(e.name);
          m->set_version(absl::StrCat(e.version));
          m->set_state(e.ready ? "READY" : "UNAVAILABLE");
          if (!e.ready) m->set_reason("not loaded");
        }
        return response;
      });
}

grpc::ServerUnaryReactor* InferenceService::RepositoryModelLoad(
    grpc::CallbackServerContext* ctx,
    const ::inference::RepositoryModelLoadRequest* q,
    ::inference::RepositoryModelLoadResponse* r) {
  inference::InstancePoolOptions pool = core_->options().inference.default_pool;
  auto version = IntParameter(*q, "version", 0);
  auto instances = IntParameter(*q, "instances", pool.instances);
  auto max_batch =
      IntParameter(*q, "max_batch_size", pool.batching.max_batch_size);
  for (const auto* s : {&version, &instances, &max_batch}) {
    if (!s->ok()) return FinishNow(ctx, ToGrpcStatus(s->status()));
  }
  // Clamped, not wrapped: 2^32 + 1 must stay "too many" for the core's
  // limit check.
  pool.instances =
      static_cast<int>(std::clamp<int64_t>(*instances, INT32_MIN, INT32_MAX));
  pool.batching.max_batch_size = *max_batch;
  return RunBlocking(
      ctx, *runtime_, r,
      [core = core_, name = q->model_name(), version = *version,
       pool]() -> absl::StatusOr<::inference::RepositoryModelLoadResponse> {
        auto loaded = core->models().Load(name, version, &pool);
        if (!loaded.ok()) return loaded.status();
        return ::inference::RepositoryModelLoadResponse();
      });
}

grpc::ServerUnaryReactor* InferenceService::RepositoryModelUnload(
    grpc::CallbackServerContext* ctx,
    const ::inference::RepositoryModelUnloadRequest* q,
    ::inference::RepositoryModelUnloadResponse* r) {
  int64_t version = 0;
  auto it = q->parameters().find("version");
  if (it != q->parameters().end() && it->second.has_int64_param()) {
    version = it->second.int64_param();
  }
  // Unloading joins the version's instance threads: off the gRPC thread.
  return RunBlocking(
      ctx, *runtime_, r,
      [core = core_, name = q->model_name(), version]()
          -> absl::StatusOr<::inference::RepositoryModelUnloadResponse> {
        absl::Status s = core->models().Unload(name, version);
        if (!s.ok()) return s;
        return ::inference::RepositoryModelUnloadResponse();
      });
}

}  // namespace pruneserve
