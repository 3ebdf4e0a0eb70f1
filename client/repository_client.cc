#include "client/repository_client.h"

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <fstream>

#include "absl/strings/str_cat.h"

namespace pruneserve::client {

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

RepositoryClient::RepositoryClient(std::shared_ptr<grpc::Channel> channel,
                                   RepositoryClientOptions options)
    : options_(options), stub_(v1::ModelRepository::NewStub(channel)) {}

void RepositoryClient::SetDeadline(grpc::ClientContext* context) const {
  context->set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
}

namespace {

// Sends header + chunks produced by `next_chunk` (false at the end).
absl::StatusOr<v1::ModelVersion> StreamUpload(
    v1::ModelRepository::Stub& stub, const v1::UploadModelHeader& header,
    const std::function<bool(std::string*)>& next_chunk) {
  grpc::ClientContext context;
  v1::UploadModelResponse response;
  auto writer = stub.UploadModel(&context, &response);
  v1::UploadModelRequest request;
  *request.mutable_header() = header;
  bool open = writer->Write(request);
  std::string chunk;
  while (open && next_chunk(&chunk)) {
    request.set_chunk(chunk);
    // Write() fails when the server already answered (e.g. size limit);
    // Finish() then carries its status.
    open = writer->Write(request);
  }
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (!status.ok()) return FromGrpcStatus(status);
  return response.model();
}

}  // namespace

absl::StatusOr<v1::ModelVersion> RepositoryClient::Upload(
    const v1::UploadModelHeader& header, const std::string& path,
    const ProgressFn& progress) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  struct stat st {};
  int64_t total = ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
  int64_t done = 0;
  std::string buffer(options_.chunk_bytes, '\0');
  return StreamUpload(*stub_, header, [&](std::string* chunk) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    size_t n = static_cast<size_t>(in.gcount());
    if (n == 0) return false;
    chunk->assign(buffer.data(), n);
    done += static_cast<int64_t>(n);
    if (progress) progress(done, total);
    return true;
  });
}

absl::StatusOr<v1::ModelVersion> RepositoryClient::UploadBytes(
    const v1::UploadModelHeader& header, const std::string& bytes) {
  size_t offset = 0;
  return StreamUpload(*stub_, header, [&](std::string* chunk) {
    if (offset >= bytes.size()) return false;
    size_t n = std::min(options_.chunk_bytes, bytes.size() - offset);
    chunk->assign(bytes.data() + offset, n);
    offset += n;
    return true;
  });
}

absl::StatusOr<std::vector<v1::ModelVersion>> RepositoryClient::List(
    const std::string& name) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::ListModelsRequest request;
  request.set_name(name);
  v1::ListModelsResponse response;
  grpc::Status status = stub_->ListModels(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return std::vector<v1::ModelVersion>(response.models().begin(),
                                       response.models().end());
}

absl::StatusOr<v1::ModelVersion> RepositoryClient::Get(const std::string& name,
                                                       int64_t version) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::GetModelRequest request;
  request.set_name(name);
  request.set_version(version);
  v1::GetModelResponse response;
  grpc::Status status = stub_->GetModel(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response.model();
}

absl::StatusOr<v1::ModelVersion> RepositoryClient::Download(
    const std::string& name, int64_t version, const std::string& path) {
  grpc::ClientContext context;
  v1::DownloadModelRequest request;
  request.set_name(name);
  request.set_version(version);
  auto reader = stub_->DownloadModel(&context, request);
  std::string tmp = path + ".part";
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) return absl::PermissionDeniedError("cannot write " + tmp);
  v1::DownloadModelChunk chunk;
  v1::ModelVersion model;
  while (reader->Read(&chunk)) {
    if (chunk.has_model()) model = chunk.model();
    out.write(chunk.data().data(),
              static_cast<std::streamsize>(chunk.data().size()));
  }
  out.close();
  grpc::Status status = reader->Finish();
  if (!status.ok()) {
    std::remove(tmp.c_str());
    return FromGrpcStatus(status);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError("cannot rename " + tmp + " to " + path);
  }
  return model;
}

absl::StatusOr<int> RepositoryClient::Delete(const std::string& name,
                                             int64_t version) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::DeleteModelRequest request;
  request.set_name(name);
  request.set_version(version);
  v1::DeleteModelResponse response;
  grpc::Status status = stub_->DeleteModel(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response.deleted_versions();
}

absl::StatusOr<std::vector<v1::VersionIntegrity>> RepositoryClient::Verify(
    const std::string& name, int64_t version) {
  grpc::ClientContext context;
  context.set_deadline(
      absl::ToChronoTime(absl::Now() + options_.verify_timeout));
  v1::VerifyModelsRequest request;
  request.set_name(name);
  request.set_version(version);
  v1::VerifyModelsResponse response;
  grpc::Status status = stub_->VerifyModels(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return std::vector<v1::VersionIntegrity>(response.versions().begin(),
                                           response.versions().end());
}

}  // namespace pruneserve::client
