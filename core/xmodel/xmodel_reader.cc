#include "core/xmodel/xmodel_reader.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <system_error>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/util/file_util.h"
#include "xir/xmodel_graph.pb.h"

namespace pruneserve::xmodel {
namespace {

bool IsInputOp(const std::string& type) {
  return type == "data" || type == "data-fix";
}

bool IsConstOp(const std::string& type) {
  return type == "const" || type == "const-fix";
}

XmodelTensorInfo TensorInfo(const xir::OpNode& op) {
  XmodelTensorInfo info;
  info.op_name = op.op_name();
  info.op_type = op.op_type();
  for (uint32_t d : op.output_tensor().tensor_dim()) info.shape.push_back(d);
  info.bit_width = op.output_tensor().tensor_bit_width();
  return info;
}

// Checks that every op listed in `subgraph` and its descendants exists.
absl::Status CheckSubgraph(const xir::SubGraph& subgraph,
                           const absl::flat_hash_set<std::string>& ops,
                           int depth) {
  // The parser already bounds nesting; this keeps the walk bounded too.
  if (depth > 64) {
    return absl::InvalidArgumentError(
        "xmodel subgraph tree is nested more than 64 levels deep");
  }
  for (const std::string& name : subgraph.op_name()) {
    if (!ops.contains(name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "xmodel subgraph '", subgraph.subgraph_name(), "' lists op '", name,
          "', which the graph does not have"));
    }
  }
  for (const xir::SubGraph& child : subgraph.subg_child()) {
    absl::Status s = CheckSubgraph(child, ops, depth + 1);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

int64_t XmodelSummary::DpuPartitionCount() const {
  int64_t n = 0;
  for (const XmodelPartition& p : partitions) n += p.device == "DPU";
  return n;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

absl::StatusOr<XmodelSummary> ReadXmodel(absl::string_view bytes) {
  if (bytes.empty()) {
    return absl::InvalidArgumentError("xmodel is empty (0 bytes)");
  }
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return absl::InvalidArgumentError(
        absl::StrCat("xmodel is ", bytes.size(),
                     " bytes; protobuf cannot parse more than 2 GiB"));
  }
  xir::Graph graph;
  if (!graph.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the ", bytes.size(),
        " bytes do not parse as an XIR graph (the protobuf inside an "
        ".xmodel); compile the model with vai_c_xir and upload its output"));
  }
  if (graph.op_node_size() == 0) {
    return absl::InvalidArgumentError("xmodel graph '" + graph.graph_name() +
                                      "' has no ops");
  }
  absl::flat_hash_set<std::string> names;
  for (const xir::OpNode& op : graph.op_node()) {
    if (op.op_name().empty()) {
      return absl::InvalidArgumentError("xmodel has an op without a name");
    }
    if (!names.insert(op.op_name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("xmodel has two ops named '", op.op_name(), "'"));
    }
  }
  absl::flat_hash_set<std::string> consumed;
  for (const xir::OpNode& op : graph.op_node()) {
    for (const xir::OpArg& arg : op.args()) {
      for (const std::string& input : arg.arg_ops()) {
        if (!names.contains(input)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "xmodel op '", op.op_name(), "' reads '", input, "' (argument ",
              arg.arg_name(), "), which the graph does not have"));
        }
        consumed.insert(input);
      }
    }
  }
  if (!graph.has_subg_root()) {
    return absl::InvalidArgumentError("xmodel graph '" + graph.graph_name() +
                                      "' has no root subgraph");
  }
  absl::Status s = CheckSubgraph(graph.subg_root(), names, 0);
  if (!s.ok()) return s;

  XmodelSummary summary;
  summary.graph_name = graph.graph_name();
  summary.op_count = graph.op_node_size();
  for (const xir::OpNode& op : graph.op_node()) {
    if (IsInputOp(op.op_type())) summary.inputs.push_back(TensorInfo(op));
    if (!consumed.contains(op.op_name()) && !IsConstOp(op.op_type())) {
      summary.outputs.push_back(TensorInfo(op));
    }
    if (IsConstOp(op.op_type())) {
      // A constant's shape comes from the file, so its product, the running
      // totals and the bit count are all checked: a hostile header must give
      // an error, not a wrapped (undefined) count.
      int64_t elements = 1;
      bool overflow = false;
      for (uint32_t d : op.output_tensor().tensor_dim()) {
        overflow |= __builtin_mul_overflow(elements, int64_t{d}, &elements);
      }
      const int32_t bits = op.output_tensor().tensor_bit_width();
      int64_t element_bits = 0;
      overflow |= __builtin_mul_overflow(elements, int64_t{std::max(bits, 0)},
                                         &element_bits);
      overflow |= element_bits > std::numeric_limits<int64_t>::max() - 7;
      overflow |= __builtin_add_overflow(summary.parameter_count, elements,
                                         &summary.parameter_count);
      if (!overflow && bits > 0) {
        overflow |= __builtin_add_overflow(summary.parameter_bytes,
                                           (element_bits + 7) / 8,
                                           &summary.parameter_bytes);
      }
      if (overflow) {
        return absl::InvalidArgumentError(absl::StrCat(
            "xmodel constant '", op.op_name(),
            "' has a shape whose size does not fit in 64 bits"));
      }
    }
  }
  for (const xir::SubGraph& child : graph.subg_root().subg_child()) {
    XmodelPartition partition;
    partition.name = child.subgraph_name();
    auto it = child.subg_attr().find("device");
    if (it != child.subg_attr().end()) {
      partition.device = it->second.string_value();
    }
    partition.op_count = child.op_name_size();
    summary.partitions.push_back(std::move(partition));
  }
  return summary;
}

absl::StatusOr<XmodelSummary> ReadXmodelFile(const std::string& path,
                                             int64_t max_bytes) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    return ec == std::errc::no_such_file_or_directory
               ? absl::NotFoundError(absl::StrCat("no xmodel at ", path))
               : absl::InternalError(
                     absl::StrCat("cannot stat ", path, ": ", ec.message()));
  }
  if (static_cast<int64_t>(size) > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "xmodel ", path, " is ", size, " bytes; the limit is ", max_bytes));
  }
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  return ReadXmodel(*bytes);
}

}  // namespace pruneserve::xmodel
