#include "core/pruning/flops_counter.h"

#include <torch/script.h>

#include "absl/strings/str_cat.h"
#include "core/pruning/channel_dependency_graph.h"
#include "core/pruning/inlined_forward.h"
#include "core/util/torch_status.h"

namespace pruneserve::pruning {

namespace jit = torch::jit;
using internal::InlinedForward;
using internal::IsTensorValue;

namespace {

struct Site {
  std::string kind;            // "conv" | "linear"
  std::string op;              // node kind
  jit::Value* output;          // tapped
  jit::Value* weight;          // tapped (conv/linear weight, or matmul operand)
  jit::Value* bias;            // may be null
  bool weight_is_rhs = false;  // matmul/addmm: reduction is rhs dim 0
};

bool IsConv(const std::string& k) {
  return k == "aten::conv1d" || k == "aten::conv2d" || k == "aten::conv3d" ||
         k == "aten::_convolution" || k == "aten::convolution";
}

}  // namespace

absl::StatusOr<ModelCost> CountModelCost(
    const jit::Module& module, const std::vector<int64_t>& input_shape) {
  auto forward = InlinedForward::Create(module);
  if (!forward.ok()) return forward.status();
  InlinedForward& f = **forward;
  std::vector<Site> sites;
  std::vector<jit::Value*> taps;
  for (jit::Node* node : f.graph()->nodes()) {
    const std::string k = node->kind().toQualString();
    Site s;
    if (IsConv(k)) {
      s = {"conv", k, node->output(), node->input(1), node->input(2)};
    } else if (k == "aten::linear") {
      s = {"linear", k, node->output(), node->input(1), node->input(2)};
    } else if (k == "aten::addmm") {
      s = {"linear", k, node->output(), node->input(2), node->input(0), true};
    } else if (k == "aten::matmul" || k == "aten::mm") {
      s = {"linear", k, node->output(), node->input(1), nullptr, true};
    } else {
      continue;
    }
    if (!IsTensorValue(s.output) || !IsTensorValue(s.weight)) continue;
    sites.push_back(s);
    taps.push_back(s.output);
    taps.push_back(s.weight);
  }
  ModelCost cost;
  torch::Tensor input;
  try {
    input = torch::zeros(input_shape);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "creating the example input");
  }
  auto tap = f.Tap(taps);
  if (!tap.ok()) return tap.status();
  auto tensors = (*tap)->Run(input);
  if (!tensors.ok()) return tensors.status();
  int counter = 0;
  for (size_t i = 0; i < sites.size(); ++i) {
    const Site& s = sites[i];
    const torch::Tensor& out = (*tensors)[2 * i];
    const torch::Tensor& w = (*tensors)[2 * i + 1];
    LayerCost layer;
    layer.kind = s.kind;
    const std::string* path = f.AttrPath(s.weight);
    if (path == nullptr && s.weight->node()->kind() == c10::aten::t) {
      path = f.AttrPath(s.weight->node()->input());
    }
    layer.name = path ? LayerNameOf(*path) : absl::StrCat(s.op, "#", counter);
    ++counter;
    int64_t reduction = 0;
    if (s.kind == "conv") {
      reduction = w.size(0) > 0 ? w.numel() / w.size(0) : 0;
    } else if (s.weight_is_rhs) {
      reduction = w.dim() >= 2 ? w.size(w.dim() - 2) : w.size(0);
    } else {
      reduction = w.size(-1);
    }
    layer.macs = out.numel() * reduction;
    layer.params = w.numel();
    if (s.bias != nullptr) {
      if (auto b = f.TensorAttr(s.bias)) layer.params += b->numel();
    }
    layer.output_shape = out.sizes().vec();
    cost.total_macs += layer.macs;
    cost.layers.push_back(std::move(layer));
  }
  for (const auto& p : module.parameters(/*recurse=*/true)) {
    cost.total_params += p.numel();
  }
  return cost;
}

}  // namespace pruneserve::pruning
