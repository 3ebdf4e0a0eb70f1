// The DPU backend: serves a compiled xmodel through Vitis AI Runtime (VART)
// runners on the FPGA. Clients see the same contract as the LibTorch
// backend (float NCHW in, float out); each session converts to the DPU's
// world (int8, NHWC, the runner's fixed batch) and back with the helpers of
// core/inference/dpu_tensor_layout.h.
//
// Built only when configured with -DPRUNESERVE_WITH_VART=ON, which defines
// PRUNESERVE_HAVE_VART for users of pruneserve_inference; callers guard their
// use with #ifdef PRUNESERVE_HAVE_VART. This header itself needs no VART
// headers.
#ifndef PRUNESERVE_CORE_INFERENCE_VART_VART_BACKEND_H_
#define PRUNESERVE_CORE_INFERENCE_VART_VART_BACKEND_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/inference/inference_backend.h"

namespace xir {
class Attrs;
class Graph;
class Subgraph;
}  // namespace xir

namespace pruneserve::inference {

struct VartBackendOptions {
  // Compiled xmodel (the output of vai_c_xir for the board's DPU).
  std::string xmodel_path;
  // How long one runner job may take before Run fails with INTERNAL,
  // milliseconds; <= 0 waits forever.
  int job_timeout_ms = 10000;
  // Runner library per subgraph device ("DPU" -> "libvart-dpu-runner.so" or
  // a path), handed to vart::Runner::create_runner_with_attrs as the attrs
  // map "lib". A device that is not listed runs the library the xmodel's
  // subgraph names for mode "run" (its "runner" attribute). Empty: the
  // xmodel's choice everywhere. Set by the server's --vart_runner_lib.
  std::map<std::string, std::string> runner_libs;
};

// Thread-safe: CreateSession may be called from several pool threads. Each
// session owns one vart::Runner (runners are not reentrant), so the number
// of concurrent DPU jobs equals the number of sessions (pool instances).
// Sessions share the deserialized graph and the runner attrs (VART expects
// one xir::Attrs per graph, shared by its runners) and stay valid after the
// backend is destroyed. A session whose job failed or timed out drops its
// runner and creates a new one before its next job, so a late write of the
// abandoned job cannot land in a later request's buffers.
class VartBackend : public InferenceBackend {
 public:
  // Checks the file with core/xmodel's reader (XIR aborts the process with
  // glog FATAL on bytes it cannot parse, so it never sees a file that reader
  // rejects), deserializes it, finds its DPU subgraph (a child of the root
  // subgraph with device == "DPU"), checks that the runner library it will
  // use can be opened and exports create_runner_with_attrs (VART aborts the
  // process otherwise), and creates one runner to learn the tensor shapes,
  // batch and scales. NOT_FOUND for a missing file, INVALID_ARGUMENT naming
  // the file and the problem when it is not a sound XIR graph or XIR throws
  // while reading it, FAILED_PRECONDITION when there is no DPU subgraph or
  // more than one, when the subgraph names no runner for mode "run" or when
  // the runner library cannot be opened, UNIMPLEMENTED for tensors that are
  // not signed 8-bit or whose scale is not a power of two, INTERNAL when the
  // file cannot be read or VART fails. Blocks (reads the file; loading the
  // xmodel programs the DPU instruction memory on some boards).
  static absl::StatusOr<std::unique_ptr<VartBackend>> Create(
      VartBackendOptions options);
  ~VartBackend() override;

  // Float NCHW [-1, C, H, W] for 4-d DPU tensors (NHWC on the device),
  // [-1, ...] otherwise; dim 0 is free (requests are cut into runner-sized
  // chunks).
  const std::vector<TensorSpec>& inputs() const override { return inputs_; }
  const std::vector<TensorSpec>& outputs() const override { return outputs_; }
  std::string platform() const override { return "vitis_ai_xmodel"; }
  // A session with its own runner; INTERNAL when VART cannot create it.
  absl::StatusOr<std::unique_ptr<BackendSession>> CreateSession() override;

  // The runner's fixed batch size.
  int64_t runner_batch() const { return runner_batch_; }
  // The library the runners come from (after --vart_runner_lib).
  const std::string& runner_library() const { return runner_library_; }

  // What every session of one backend shares; defined in vart_backend.cc.
  struct Shared;

 private:
  explicit VartBackend(VartBackendOptions options)
      : options_(std::move(options)) {}

  VartBackendOptions options_;
  std::shared_ptr<Shared> shared_;
  std::string runner_library_;
  int64_t runner_batch_ = 0;
  std::vector<TensorSpec> inputs_;
  std::vector<TensorSpec> outputs_;
};

// What the server calls to load an xmodel for serving.
absl::StatusOr<std::unique_ptr<InferenceBackend>> CreateVartBackend(
    VartBackendOptions options);

}  // namespace pruneserve::inference

#endif  // PRUNESERVE_CORE_INFERENCE_VART_VART_BACKEND_H_
