#include "core/xmodel/xmodel_inspector.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/xmodel/xmodel_reader.h"

namespace pruneserve {
namespace {

// Keeps descriptions well under the repository's description limit.
constexpr size_t kMaxDescriptionBytes = 1024;

// True when `example` (NHWC or NCHW, as the client wrote it) describes the
// same image as the xmodel's NHWC `input`, batch aside.
bool MatchesInput(const std::vector<int64_t>& example,
                  const std::vector<int64_t>& input) {
  if (example.size() != input.size() || example.empty()) return false;
  const std::vector<int64_t> a(example.begin() + 1, example.end());
  const std::vector<int64_t> b(input.begin() + 1, input.end());
  if (a == b) return true;
  if (a.size() == 3) {  // C,H,W → H,W,C
    return std::vector<int64_t>{a[1], a[2], a[0]} == b;
  }
  return false;
}

std::string Describe(const xmodel::XmodelSummary& s) {
  std::vector<std::string> parts;
  for (const auto& p : s.partitions) {
    parts.push_back(
        absl::StrCat(p.name, "=", p.device.empty() ? "?" : p.device));
  }
  auto shapes = [](const std::vector<xmodel::XmodelTensorInfo>& ts) {
    std::vector<std::string> out;
    for (const auto& t : ts) out.push_back(xmodel::ShapeString(t.shape));
    return absl::StrJoin(out, " ");
  };
  std::string d = absl::StrCat(
      "xmodel graph '", s.graph_name, "': ", s.op_count, " ops, ",
      s.DpuPartitionCount(), " DPU subgraph(s) of ", s.partitions.size(), " (",
      absl::StrJoin(parts, ", "), "); input ", shapes(s.inputs), ", output ",
      shapes(s.outputs), " (NHWC)");
  if (d.size() > kMaxDescriptionBytes) {
    d.resize(kMaxDescriptionBytes - 3);
    d += "...";
  }
  return d;
}

}  // namespace

absl::Status XmodelInspector::Inspect(const std::string& path,
                                      v1::ModelVersion* model) const {
  absl::StatusOr<xmodel::XmodelSummary> summary =
      xmodel::ReadXmodelFile(path, options_.max_file_bytes);
  if (!summary.ok()) return summary.status();
  if (options_.require_dpu_subgraph && summary->DpuPartitionCount() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "xmodel graph '", summary->graph_name, "' has no DPU subgraph (",
        summary->partitions.size(),
        " partitions); it looks like quantizer output that was not compiled "
        "for a DPU target with vai_c_xir"));
  }
  if (summary->inputs.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "xmodel graph '", summary->graph_name, "' has no data (input) op"));
  }
  if (model->example_input_shape_size() > 0) {
    const std::vector<int64_t> example(model->example_input_shape().begin(),
                                       model->example_input_shape().end());
    const std::vector<int64_t>& input = summary->inputs.front().shape;
    if (!MatchesInput(example, input)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "example input shape ", xmodel::ShapeString(example),
          " does not match the xmodel's input ", xmodel::ShapeString(input),
          " (NHWC; an NCHW example is also accepted)"));
    }
  }
  model->set_parameter_count(summary->parameter_count);
  model->set_parameter_bytes(summary->parameter_bytes);
  model->set_forward_input_count(static_cast<int32_t>(summary->inputs.size()));
  model->clear_output_shape();
  if (!summary->outputs.empty()) {
    for (int64_t d : summary->outputs.front().shape) model->add_output_shape(d);
  }
  if (model->description().empty()) model->set_description(Describe(*summary));
  return absl::OkStatus();
}

}  // namespace pruneserve
