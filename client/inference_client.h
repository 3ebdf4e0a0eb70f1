// A small synchronous client for the KServe v2 gRPC service: model
// load/unload/index, metadata and FP32 inference with raw tensor contents.
#ifndef PRUNESERVE_CLIENT_INFERENCE_CLIENT_H_
#define PRUNESERVE_CLIENT_INFERENCE_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "inference/grpc_service.grpc.pb.h"

namespace pruneserve::client {

struct LoadOptions {
  // 0 = latest version in the repository.
  int64_t version = 0;
  // 0 = the server's default.
  int64_t instances = 0;
  int64_t max_batch_size = 0;
};

// Output of one inference: FP32 values row-major with their shape.
struct InferOutput {
  std::vector<int64_t> shape;
  std::vector<float> values;
  std::string model_version;
};

// Thread-safe (gRPC stubs are).
class InferenceClient {
 public:
  explicit InferenceClient(std::shared_ptr<grpc::Channel> channel,
                           absl::Duration timeout = absl::Seconds(60));

  absl::Status Load(const std::string& name, const LoadOptions& options);
  // version 0 unloads every loaded version.
  absl::Status Unload(const std::string& name, int64_t version);
  absl::StatusOr<::inference::RepositoryIndexResponse> Index();
  absl::StatusOr<::inference::ModelMetadataResponse> Metadata(
      const std::string& name, int64_t version);
  // Sends `values` (FP32, `shape`) as raw contents of the model's single
  // input; returns its first output. Blocks.
  absl::StatusOr<InferOutput> Infer(const std::string& name, int64_t version,
                                    const std::vector<int64_t>& shape,
                                    const std::vector<float>& values);

 private:
  void SetDeadline(grpc::ClientContext* context) const;
  absl::Duration timeout_;
  std::unique_ptr<::inference::GRPCInferenceService::Stub> stub_;
};

}  // namespace pruneserve::client

#endif  // PRUNESERVE_CLIENT_INFERENCE_CLIENT_H_
