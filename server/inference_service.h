// gRPC face of inference: the KServe v2 / Open Inference Protocol service
// (inference.GRPCInferenceService) including the model repository extension.
// Translates wire tensors (typed contents or raw bytes) to HostTensors and
// back; everything else is one ModelManager call.
#ifndef PRUNESERVE_SERVER_INFERENCE_SERVICE_H_
#define PRUNESERVE_SERVER_INFERENCE_SERVICE_H_

#include <atomic>

#include "inference/grpc_service.grpc.pb.h"
#include "server/callback_rpc.h"
#include "server/server_core.h"

namespace pruneserve {

// Thread-safe; borrows the core and the runtime, which must outlive it.
// Metadata calls answer on the gRPC thread; ModelInfer is queued in the
// model's batcher and finished from its completion callback (no thread
// waits for it); repository calls run on the runtime's executor.
class InferenceService final
    : public ::inference::GRPCInferenceService::CallbackService {
 public:
  InferenceService(ServerCore* core, const RpcRuntime* runtime)
      : core_(core), runtime_(runtime) {}

  // Makes ServerReady answer false (called when shutdown begins).
  void SetNotReady() { ready_ = false; }

  grpc::ServerUnaryReactor* ServerLive(
      grpc::CallbackServerContext*, const ::inference::ServerLiveRequest*,
      ::inference::ServerLiveResponse*) override;
  grpc::ServerUnaryReactor* ServerReady(
      grpc::CallbackServerContext*, const ::inference::ServerReadyRequest*,
      ::inference::ServerReadyResponse*) override;
  grpc::ServerUnaryReactor* ModelReady(
      grpc::CallbackServerContext*, const ::inference::ModelReadyRequest*,
      ::inference::ModelReadyResponse*) override;
  grpc::ServerUnaryReactor* ServerMetadata(
      grpc::CallbackServerContext*, const ::inference::ServerMetadataRequest*,
      ::inference::ServerMetadataResponse*) override;
  grpc::ServerUnaryReactor* ModelMetadata(
      grpc::CallbackServerContext*, const ::inference::ModelMetadataRequest*,
      ::inference::ModelMetadataResponse*) override;
  // Finished by the batcher's completion callback, the deadline (the
  // client's, or --default_rpc_deadline_seconds) or cancellation.
  grpc::ServerUnaryReactor* ModelInfer(
      grpc::CallbackServerContext*, const ::inference::ModelInferRequest*,
      ::inference::ModelInferResponse*) override;
  grpc::ServerUnaryReactor* RepositoryIndex(
      grpc::CallbackServerContext*, const ::inference::RepositoryIndexRequest*,
      ::inference::RepositoryIndexResponse*) override;
  grpc::ServerUnaryReactor* RepositoryModelLoad(
      grpc::CallbackServerContext*,
      const ::inference::RepositoryModelLoadRequest*,
      ::inference::RepositoryModelLoadResponse*) override;
  grpc::ServerUnaryReactor* RepositoryModelUnload(
      grpc::CallbackServerContext*,
      const ::inference::RepositoryModelUnloadRequest*,
      ::inference::RepositoryModelUnloadResponse*) override;

 private:
  ServerCore* core_;
  const RpcRuntime* runtime_;
  std::atomic<bool> ready_{true};
};

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_INFERENCE_SERVICE_H_
