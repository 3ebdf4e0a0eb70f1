// Reads an .xmodel (a serialized XIR graph) without the XIR library and
// checks that it is structurally sound: every op name is unique, every op
// input and every subgraph member names an existing op, and there is a root
// subgraph. What it learns — graph inputs and outputs, DPU partitions, weight
// sizes — is what the repository records about an uploaded xmodel and what
// the inference side needs to pick runner subgraphs.
#ifndef PRUNESERVE_CORE_XMODEL_XMODEL_READER_H_
#define PRUNESERVE_CORE_XMODEL_XMODEL_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pruneserve::xmodel {

// One graph input or output.
struct XmodelTensorInfo {
  // Name of the op that produces the tensor.
  std::string op_name;
  // XIR op type of that op ("data-fix", "conv2d-fix", ...).
  std::string op_type;
  // Dimensions in XIR's layout (NHWC for images).
  std::vector<int64_t> shape;
  // Bits per element; 0 when the xmodel does not say.
  int32_t bit_width = 0;
};

// One child of the root subgraph (a compiled partition).
struct XmodelPartition {
  std::string name;
  // The "device" attribute: "DPU", "CPU", "USER", or empty when absent.
  std::string device;
  // Number of ops directly listed in the partition.
  int64_t op_count = 0;
};

struct XmodelSummary {
  std::string graph_name;
  int64_t op_count = 0;
  // Graph inputs: ops of type "data" / "data-fix", in file order.
  std::vector<XmodelTensorInfo> inputs;
  // Graph outputs: ops whose result no other op consumes, in file order.
  std::vector<XmodelTensorInfo> outputs;
  // Children of the root subgraph, in file order. Empty for a quantized but
  // not yet compiled xmodel.
  std::vector<XmodelPartition> partitions;
  // Elements held by constant ops ("const", "const-fix"): the weights.
  int64_t parameter_count = 0;
  // Bytes of those constants, counted where the bit width is recorded.
  int64_t parameter_bytes = 0;

  // Number of partitions with device "DPU".
  int64_t DpuPartitionCount() const;
};

// Parses and checks `bytes`. INVALID_ARGUMENT naming the problem when they are
// empty, do not parse as an XIR graph, or the graph is inconsistent (no ops,
// duplicate op names, dangling references, no root subgraph). Does not
// block beyond the parse; thread-safe.
absl::StatusOr<XmodelSummary> ReadXmodel(absl::string_view bytes);

// Reads the file at `path` and calls ReadXmodel(). NOT_FOUND / INTERNAL for
// I/O errors; INVALID_ARGUMENT when the file is larger than `max_bytes`.
// Blocks on I/O.
absl::StatusOr<XmodelSummary> ReadXmodelFile(
    const std::string& path, int64_t max_bytes = (int64_t{1} << 31) - 1);

// "[1,28,28,1]".
std::string ShapeString(const std::vector<int64_t>& shape);

}  // namespace pruneserve::xmodel

#endif  // PRUNESERVE_CORE_XMODEL_XMODEL_READER_H_
