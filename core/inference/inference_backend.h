// The seam between the inference pool and the thing that computes: LibTorch
// on the CPU today, VART runners on the DPU where present. A backend is
// loaded once per model version; each pool instance (thread) creates its own
// session, because runners (and, for throughput, TorchScript modules) are not
// shared between threads.
#ifndef PRUNESERVE_CORE_INFERENCE_INFERENCE_BACKEND_H_
#define PRUNESERVE_CORE_INFERENCE_INFERENCE_BACKEND_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/inference/host_tensor.h"

namespace pruneserve::inference {

// Name, datatype and shape of a model input or output; -1 marks a variable
// dimension (dim 0, the batch, is always variable).
struct TensorSpec {
  std::string name;
  DataType dtype = DataType::kFp32;
  std::vector<int64_t> shape;
};

// One instance's private execution context. Not thread-safe: one pool
// thread owns and calls it.
class BackendSession {
 public:
  virtual ~BackendSession() = default;
  // Runs one batch. `inputs` follow the backend's input specs, all with the
  // same dim 0; outputs have that dim 0 too. Errors carry the op and shapes.
  // Blocks for the computation.
  virtual absl::StatusOr<std::vector<HostTensor>> Run(
      const std::vector<HostTensor>& inputs) = 0;
};

// A loaded model version. Thread-safe: CreateSession may be called from the
// pool's threads concurrently.
class InferenceBackend {
 public:
  virtual ~InferenceBackend() = default;
  virtual const std::vector<TensorSpec>& inputs() const = 0;
  virtual const std::vector<TensorSpec>& outputs() const = 0;
  // KServe "platform" string, e.g. "pytorch_libtorch".
  virtual std::string platform() const = 0;
  virtual absl::StatusOr<std::unique_ptr<BackendSession>> CreateSession() = 0;
};

}  // namespace pruneserve::inference

#endif  // PRUNESERVE_CORE_INFERENCE_INFERENCE_BACKEND_H_
