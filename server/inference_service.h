// gRPC face of inference: the KServe v2 / Open Inference Protocol service
// (inference.GRPCInferenceService) including the model repository extension.
// Translates wire tensors (typed contents or raw bytes) to HostTensors and
// back; everything else is one ModelManager call.
#ifndef PRUNESERVE_SERVER_INFERENCE_SERVICE_H_
#define PRUNESERVE_SERVER_INFERENCE_SERVICE_H_

#include <atomic>

#include "inference/grpc_service.grpc.pb.h"
#include "server/server_core.h"

namespace pruneserve {

// Thread-safe; borrows the core, which must outlive it.
class InferenceService final
    : public ::inference::GRPCInferenceService::Service {
 public:
  explicit InferenceService(ServerCore* core) : core_(core) {}

  // Makes ServerReady answer false (called when shutdown begins).
  void SetNotReady() { ready_ = false; }

  grpc::Status ServerLive(grpc::ServerContext*,
                          const ::inference::ServerLiveRequest*,
                          ::inference::ServerLiveResponse*) override;
  grpc::Status ServerReady(grpc::ServerContext*,
                           const ::inference::ServerReadyRequest*,
                           ::inference::ServerReadyResponse*) override;
  grpc::Status ModelReady(grpc::ServerContext*,
                          const ::inference::ModelReadyRequest*,
                          ::inference::ModelReadyResponse*) override;
  grpc::Status ServerMetadata(grpc::ServerContext*,
                              const ::inference::ServerMetadataRequest*,
                              ::inference::ServerMetadataResponse*) override;
  grpc::Status ModelMetadata(grpc::ServerContext*,
                             const ::inference::ModelMetadataRequest*,
                             ::inference::ModelMetadataResponse*) override;
  grpc::Status ModelInfer(grpc::ServerContext*,
                          const ::inference::ModelInferRequest*,
                          ::inference::ModelInferResponse*) override;
  grpc::Status RepositoryIndex(grpc::ServerContext*,
                               const ::inference::RepositoryIndexRequest*,
                               ::inference::RepositoryIndexResponse*) override;
  grpc::Status RepositoryModelLoad(
      grpc::ServerContext*, const ::inference::RepositoryModelLoadRequest*,
      ::inference::RepositoryModelLoadResponse*) override;
  grpc::Status RepositoryModelUnload(
      grpc::ServerContext*, const ::inference::RepositoryModelUnloadRequest*,
      ::inference::RepositoryModelUnloadResponse*) override;

 private:
  ServerCore* core_;
  std::atomic<bool> ready_{true};
};

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_INFERENCE_SERVICE_H_
