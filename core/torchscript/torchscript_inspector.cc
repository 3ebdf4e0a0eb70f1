#include "core/torchscript/torchscript_inspector.h"

#include <torch/script.h>

#include <fstream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/pruning/flops_counter.h"
#include "core/util/file_util.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"

namespace pruneserve {
namespace {

// The first tensor found in a forward() result (tensor, tuple or list).
std::optional<at::Tensor> FirstTensor(const c10::IValue& v) {
  if (v.isTensor()) return v.toTensor();
  if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) {
      if (auto t = FirstTensor(e)) return t;
    }
  }
  if (v.isList()) {
    for (const auto& e : v.toListRef()) {
      if (auto t = FirstTensor(e)) return t;
    }
  }
  return std::nullopt;
}

}  // namespace

absl::Status TorchScriptInspector::Inspect(const std::string& path,
                                           v1::ModelVersion* model) const {
  PS_RETURN_IF_ERROR(CheckZipArchive(path, options_.archive_limits).status());
  std::ifstream archive(path, std::ios::binary);
  if (!archive) return ErrnoToStatus(errno, path);
  return InspectStream(archive, model);
}

absl::Status TorchScriptInspector::InspectStream(
    std::istream& archive, v1::ModelVersion* model) const {
  torch::jit::Module module;
  try {
    module = torch::jit::load(archive, torch::kCPU);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "not a loadable TorchScript archive");
  }
  PS_RETURN_IF_ERROR(CheckForbiddenOps(module, options_.forbidden_ops));
  if (!module.find_method("forward")) {
    return absl::InvalidArgumentError(
        "TorchScript archive has no forward() method");
  }
  int64_t count = 0, bytes = 0;
  for (const at::Tensor& p : module.parameters(/*recurse=*/true)) {
    count += p.numel();
    bytes += p.numel() * static_cast<int64_t>(p.element_size());
  }
  model->set_parameter_count(count);
  model->set_parameter_bytes(bytes);
  const auto& schema = module.get_method("forward").function().getSchema();
  // The first argument of a method is `self`.
  model->set_forward_input_count(
      static_cast<int32_t>(schema.arguments().size()) - 1);

  if (model->example_input_shape_size() == 0) return absl::OkStatus();
  std::vector<int64_t> shape(model->example_input_shape().begin(),
                             model->example_input_shape().end());
  int64_t elements = 1;
  for (int64_t d : shape) elements *= d;
  if (elements > options_.max_example_elements) {
    return absl::InvalidArgumentError(absl::StrCat(
        "example input [", absl::StrJoin(shape, ","), "] has ", elements,
        " elements; the limit is ", options_.max_example_elements));
  }
  if (model->forward_input_count() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("an example input shape was given but forward() takes ",
                     model->forward_input_count(), " inputs"));
  }
  try {
    torch::NoGradGuard no_grad;
    module.eval();
    c10::IValue out = module.forward({torch::zeros(shape)});
    std::optional<at::Tensor> t = FirstTensor(out);
    if (!t) {
      return absl::InvalidArgumentError(
          "forward() on the example input returned no tensor");
    }
    for (int64_t d : t->sizes()) model->add_output_shape(d);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(
        e, absl::StrCat("forward() failed on example input [",
                        absl::StrJoin(shape, ","), "]"));
  }
  // FLOPs are best effort: a graph the counter cannot follow still uploads,
  // with flops 0 meaning "unknown".
  absl::StatusOr<pruning::ModelCost> cost =
      pruning::CountModelCost(module, shape);
  if (cost.ok()) model->set_flops(cost->total_macs);
  return absl::OkStatus();
}

}  // namespace pruneserve
