// Validates uploaded .xmodel files (compiled Vitis AI graphs) before the
// repository stores them, and records what a client wants to know about one:
// weight count and bytes, the number of graph inputs, the output shape, and a
// one-line description of the DPU partitions and tensor shapes. No XIR or
// LibTorch dependency: the graph protobuf is read directly.
#ifndef PRUNESERVE_CORE_XMODEL_XMODEL_INSPECTOR_H_
#define PRUNESERVE_CORE_XMODEL_XMODEL_INSPECTOR_H_

#include <cstdint>
#include <string>

#include "core/repository/model_inspector.h"

namespace pruneserve {

struct XmodelInspectorOptions {
  // Reject xmodels without a DPU partition. The quantizer's own output (before
  // vai_c_xir) has none, and no runner can execute it on the FPGA.
  bool require_dpu_subgraph = true;
  // Largest file the inspector reads into memory.
  int64_t max_file_bytes = (int64_t{1} << 31) - 1;
};

// Thread-safe and stateless: each Inspect() reads its own copy of the file.
class XmodelInspector : public ModelInspector {
 public:
  explicit XmodelInspector(XmodelInspectorOptions options = {})
      : options_(options) {}

  // INVALID_ARGUMENT when the file is empty, is not an XIR graph, is
  // inconsistent, has no DPU partition (when required), or does not match
  // model->example_input_shape() (compared as NHWC, or as NCHW transposed to
  // NHWC, ignoring the batch dimension). On success fills parameter_count,
  // parameter_bytes, forward_input_count, output_shape and, when the client
  // gave none, the description. Blocks on file I/O.
  absl::Status Inspect(const std::string& path,
                       v1::ModelVersion* model) const override;

 private:
  XmodelInspectorOptions options_;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_XMODEL_XMODEL_INSPECTOR_H_
