// LibTorch CPU backend: serves a TorchScript archive. Each session loads its
// own copy of the module (so instances never contend on one module) and runs
// it under InferenceMode.
//
// Intra-op threads are not the backend's business: LibTorch sizes them per
// thread, and the threads that run sessions set theirs when they start
// (ModelManager does it for instance threads).
#ifndef PRUNESERVE_CORE_INFERENCE_TORCH_BACKEND_H_
#define PRUNESERVE_CORE_INFERENCE_TORCH_BACKEND_H_

#include <memory>
#include <string>
#include <vector>

#include "core/inference/inference_backend.h"

namespace pruneserve::inference {

struct TorchBackendOptions {
  // TorchScript archive to serve.
  std::string path;
  // Shape of one example input including the batch dim (e.g. [1,1,28,28]);
  // it fixes the input spec (dim 0 becomes -1) and the output spec. Empty
  // means the input shape is unknown: all dims are -1 and any rank is
  // accepted.
  std::vector<int64_t> example_input_shape;
};

// Thread-safe.
class TorchBackend : public InferenceBackend {
 public:
  // Loads the archive once to validate it and, with an example shape, runs
  // it to learn the outputs. INVALID_ARGUMENT naming the problem on failure.
  static absl::StatusOr<std::unique_ptr<TorchBackend>> Create(
      TorchBackendOptions options);

  const std::vector<TensorSpec>& inputs() const override { return inputs_; }
  const std::vector<TensorSpec>& outputs() const override { return outputs_; }
  std::string platform() const override { return "pytorch_libtorch"; }
  absl::StatusOr<std::unique_ptr<BackendSession>> CreateSession() override;

 private:
  explicit TorchBackend(TorchBackendOptions options)
      : options_(std::move(options)) {}

  TorchBackendOptions options_;
  std::vector<TensorSpec> inputs_;
  std::vector<TensorSpec> outputs_;
};

}  // namespace pruneserve::inference

#endif  // PRUNESERVE_CORE_INFERENCE_TORCH_BACKEND_H_
