// gRPC face of the ModelRepository: translates pruneserve.v1 requests into
// one repository call each and the result back into a response.
#ifndef PRUNESERVE_SERVER_MODEL_REPOSITORY_SERVICE_H_
#define PRUNESERVE_SERVER_MODEL_REPOSITORY_SERVICE_H_

#include "pruneserve/v1/model_repository.grpc.pb.h"
#include "server/server_core.h"

namespace pruneserve {

// Thread-safe; holds a non-owning pointer to the core, which must outlive it.
class ModelRepositoryService final : public v1::ModelRepository::Service {
 public:
  explicit ModelRepositoryService(ServerCore* core) : core_(core) {}

  grpc::Status UploadModel(grpc::ServerContext* context,
                           grpc::ServerReader<v1::UploadModelRequest>* reader,
                           v1::UploadModelResponse* response) override;
  grpc::Status ListModels(grpc::ServerContext* context,
                          const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override;
  grpc::Status GetModel(grpc::ServerContext* context,
                        const v1::GetModelRequest* request,
                        v1::GetModelResponse* response) override;
  grpc::Status DownloadModel(
      grpc::ServerContext* context, const v1::DownloadModelRequest* request,
      grpc::ServerWriter<v1::DownloadModelChunk>* writer) override;
  grpc::Status DeleteModel(grpc::ServerContext* context,
                           const v1::DeleteModelRequest* request,
                           v1::DeleteModelResponse* response) override;
  grpc::Status VerifyModels(grpc::ServerContext* context,
                            const v1::VerifyModelsRequest* request,
                            v1::VerifyModelsResponse* response) override;

 private:
  ServerCore* core_;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_MODEL_REPOSITORY_SERVICE_H_
