// A small synchronous client for pruneserve.v1.ModelRepository. Uploads and
// downloads stream from and to files in chunks, so a model is never held in
// memory whole on the client side.
#ifndef PRUNESERVE_CLIENT_REPOSITORY_CLIENT_H_
#define PRUNESERVE_CLIENT_REPOSITORY_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pruneserve/v1/model_repository.grpc.pb.h"

namespace pruneserve::client {

// absl::Status with the same code and message as a grpc::Status.
absl::Status FromGrpcStatus(const grpc::Status& status);

// Creates an insecure channel to `address` ("host:port") with message limits
// that fit model chunks.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address);

struct RepositoryClientOptions {
  // Bytes per upload message.
  size_t chunk_bytes = 1 << 20;
  // Deadline of unary calls; streaming calls have none.
  absl::Duration rpc_timeout = absl::Seconds(30);
  // Deadline of VerifyModels, which re-hashes every selected blob.
  absl::Duration verify_timeout = absl::Hours(1);
};

// Thread-safe (gRPC stubs are). Shares the channel.
class RepositoryClient {
 public:
  using ProgressFn = std::function<void(int64_t done, int64_t total)>;

  explicit RepositoryClient(std::shared_ptr<grpc::Channel> channel,
                            RepositoryClientOptions options = {});

  // Streams the file at `path` after `header`. `progress` (optional) is
  // called after each chunk. Returns the stored version or the server's
  // error. Blocks until the server answered.
  absl::StatusOr<v1::ModelVersion> Upload(const v1::UploadModelHeader& header,
                                          const std::string& path,
                                          const ProgressFn& progress = {});
  // Same, from bytes in memory (tests and small models).
  absl::StatusOr<v1::ModelVersion> UploadBytes(
      const v1::UploadModelHeader& header, const std::string& bytes);

  absl::StatusOr<std::vector<v1::ModelVersion>> List(const std::string& name);
  absl::StatusOr<v1::ModelVersion> Get(const std::string& name,
                                       int64_t version);
  // Writes the model's bytes to `path` and returns its metadata.
  absl::StatusOr<v1::ModelVersion> Download(const std::string& name,
                                            int64_t version,
                                            const std::string& path);
  absl::StatusOr<int> Delete(const std::string& name, int64_t version);
  // Re-hashes the stored bytes of every version (empty name), of every
  // version of `name` (version 0) or of one version, on the server; returns
  // ok/corrupt/missing per version. Blocks until the server answered.
  absl::StatusOr<std::vector<v1::VersionIntegrity>> Verify(
      const std::string& name, int64_t version);

  v1::ModelRepository::Stub& stub() { return *stub_; }

 private:
  void SetDeadline(grpc::ClientContext* context) const;

  RepositoryClientOptions options_;
  std::unique_ptr<v1::ModelRepository::Stub> stub_;
};

}  // namespace pruneserve::client

#endif  // PRUNESERVE_CLIENT_REPOSITORY_CLIENT_H_
