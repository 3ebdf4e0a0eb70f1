#include "server/model_repository_service.h"

#include <fstream>

#include "server/grpc_status.h"

namespace pruneserve {
namespace {

constexpr size_t kDownloadChunkBytes = 1 << 20;

}  // namespace

grpc::Status ModelRepositoryService::UploadModel(
    grpc::ServerContext* context,
    grpc::ServerReader<v1::UploadModelRequest>* reader,
    v1::UploadModelResponse* response) {
  v1::UploadModelRequest message;
  if (!reader->Read(&message)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "empty upload: the stream carried no header");
  }
  if (!message.has_header()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "missing header: the first message of an upload must "
                        "be an UploadModelHeader");
  }
  auto session = core_->repository().BeginUpload(message.header());
  if (!session.ok()) return ToGrpcStatus(session.status());
  while (reader->Read(&message)) {
    if (message.has_header()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "a second header arrived mid-upload");
    }
    absl::Status s = (*session)->Append(message.chunk());
    if (!s.ok()) return ToGrpcStatus(s);
  }
  if (context->IsCancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED,
                        "upload cancelled before it finished");
  }
  auto model = (*session)->Commit();
  if (!model.ok()) return ToGrpcStatus(model.status());
  *response->mutable_model() = *std::move(model);
  return grpc::Status::OK;
}

grpc::Status ModelRepositoryService::ListModels(
    grpc::ServerContext*, const v1::ListModelsRequest* request,
    v1::ListModelsResponse* response) {
  auto models = core_->repository().ListModels(request->name());
  if (!models.ok()) return ToGrpcStatus(models.status());
  for (auto& m : *models) *response->add_models() = std::move(m);
  return grpc::Status::OK;
}

grpc::Status ModelRepositoryService::GetModel(
    grpc::ServerContext*, const v1::GetModelRequest* request,
    v1::GetModelResponse* response) {
  auto model =
      core_->repository().GetModel(request->name(), request->version());
  if (!model.ok()) return ToGrpcStatus(model.status());
  *response->mutable_model() = *std::move(model);
  return grpc::Status::OK;
}

grpc::Status ModelRepositoryService::DownloadModel(
    grpc::ServerContext* context, const v1::DownloadModelRequest* request,
    grpc::ServerWriter<v1::DownloadModelChunk>* writer) {
  auto model =
      core_->repository().GetModel(request->name(), request->version());
  if (!model.ok()) return ToGrpcStatus(model.status());
  // Never stream bytes that are not the ones that were uploaded.
  auto path = core_->repository().VerifiedBlobPath(*model);
  if (!path.ok()) return ToGrpcStatus(path.status());
  std::ifstream in(*path, std::ios::binary);
  if (!in) {
    return grpc::Status(grpc::StatusCode::DATA_LOSS,
                        "stored bytes of " + model->name() + " are missing");
  }
  v1::DownloadModelChunk chunk;
  *chunk.mutable_model() = *model;
  std::string buffer(kDownloadChunkBytes, '\0');
  bool first = true;
  while (true) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    size_t n = static_cast<size_t>(in.gcount());
    if (n == 0 && !first) break;
    chunk.set_data(buffer.data(), n);
    if (!writer->Write(chunk) || context->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "download cancelled");
    }
    chunk.clear_model();
    first = false;
    if (!in) break;
  }
  return grpc::Status::OK;
}

grpc::Status ModelRepositoryService::DeleteModel(
    grpc::ServerContext*, const v1::DeleteModelRequest* request,
    v1::DeleteModelResponse* response) {
  auto deleted =
      core_->repository().DeleteModel(request->name(), request->version());
  if (!deleted.ok()) return ToGrpcStatus(deleted.status());
  response->set_deleted_versions(*deleted);
  return grpc::Status::OK;
}

grpc::Status ModelRepositoryService::VerifyModels(
    grpc::ServerContext*, const v1::VerifyModelsRequest* request,
    v1::VerifyModelsResponse* response) {
  auto checked =
      core_->repository().VerifyModels(request->name(), request->version());
  if (!checked.ok()) return ToGrpcStatus(checked.status());
  for (auto& v : *checked) *response->add_versions() = std::move(v);
  return grpc::Status::OK;
}

}  // namespace pruneserve
