// gRPC face of the ModelRepository (callback API): translates pruneserve.v1
// requests into one repository call each and the result back into a
// response. Repository calls block (SQLite, files, the validator process),
// so they run on the runtime's executor; the upload and download streams are
// reactors that hold no thread while they wait for the client, and are cut
// after the idle timeout.
#ifndef PRUNESERVE_SERVER_MODEL_REPOSITORY_SERVICE_H_
#define PRUNESERVE_SERVER_MODEL_REPOSITORY_SERVICE_H_

#include <atomic>

#include "pruneserve/v1/model_repository.grpc.pb.h"
#include "server/callback_rpc.h"
#include "server/server_core.h"

namespace pruneserve {

// Thread-safe; holds non-owning pointers to the core and the runtime, which
// must outlive it.
class ModelRepositoryService final
    : public v1::ModelRepository::CallbackService {
 public:
  ModelRepositoryService(ServerCore* core, const RpcRuntime* runtime)
      : core_(core), runtime_(runtime) {}

  // Refused with RESOURCE_EXHAUSTED (max_concurrent_uploads) when that many
  // uploads are open; cut with DEADLINE_EXCEEDED, its temp file removed,
  // when no message arrives for the idle timeout. The commit (checks and
  // validation) runs on the executor once the client half-closes.
  grpc::ServerReadReactor<v1::UploadModelRequest>* UploadModel(
      grpc::CallbackServerContext* context,
      v1::UploadModelResponse* response) override;
  grpc::ServerUnaryReactor* ListModels(
      grpc::CallbackServerContext* context,
      const v1::ListModelsRequest* request,
      v1::ListModelsResponse* response) override;
  grpc::ServerUnaryReactor* GetModel(grpc::CallbackServerContext* context,
                                     const v1::GetModelRequest* request,
                                     v1::GetModelResponse* response) override;
  // Chunks are read on the executor; a client that reads nothing for the
  // idle timeout is cut with DEADLINE_EXCEEDED.
  grpc::ServerWriteReactor<v1::DownloadModelChunk>* DownloadModel(
      grpc::CallbackServerContext* context,
      const v1::DownloadModelRequest* request) override;
  grpc::ServerUnaryReactor* DeleteModel(
      grpc::CallbackServerContext* context,
      const v1::DeleteModelRequest* request,
      v1::DeleteModelResponse* response) override;
  grpc::ServerUnaryReactor* VerifyModels(
      grpc::CallbackServerContext* context,
      const v1::VerifyModelsRequest* request,
      v1::VerifyModelsResponse* response) override;

  // Uploads open now.
  int open_uploads() const { return open_uploads_.load(); }

 private:
  ServerCore* core_;
  const RpcRuntime* runtime_;
  std::atomic<int> open_uploads_{0};
};

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_MODEL_REPOSITORY_SERVICE_H_
