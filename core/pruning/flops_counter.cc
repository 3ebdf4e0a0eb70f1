#include "core/pruning/flops_counter.h"

#include <torch/script.h>

#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "core/pruning/channel_dependency_graph.h"
#include "core/pruning/inlined_forward.h"

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

namespace internal {

absl::StatusOr<ModelCost> CostFromShapes(
    const InlinedForward& f,
    const std::unordered_map<const jit::Value*, std::vector<int64_t>>& shapes) {
  ModelCost cost;
  int counter = 0;
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
    auto out = shapes.find(s.output);
    auto w = shapes.find(s.weight);
    if (out == shapes.end() || w == shapes.end()) {
      return absl::InternalError(
          absl::StrCat("no recorded shape for ", k, " in the FLOPs count"));
    }
    const std::vector<int64_t>& ws = w->second;
    int64_t out_numel = 1;
    for (int64_t d : out->second) out_numel *= d;
    int64_t w_numel = 1;
    for (int64_t d : ws) w_numel *= d;
    LayerCost layer;
    layer.kind = s.kind;
    const std::string* path = f.AttrPath(s.weight);
    if (path == nullptr && s.weight->node()->kind() == c10::aten::t) {
      path = f.AttrPath(s.weight->node()->input());
    }
    layer.name = path ? LayerNameOf(*path) : absl::StrCat(s.op, "#", counter);
    ++counter;
    int64_t reduction = 0;
    if (ws.empty()) {
      reduction = 0;
    } else if (s.kind == "conv") {
      reduction = ws[0] > 0 ? w_numel / ws[0] : 0;
    } else if (s.weight_is_rhs) {
      reduction = ws.size() >= 2 ? ws[ws.size() - 2] : ws[0];
    } else {
      reduction = ws.back();
    }
    layer.macs = out_numel * reduction;
    layer.params = w_numel;
    if (s.bias != nullptr) {
      if (auto b = f.TensorAttr(s.bias)) layer.params += b->numel();
    }
    layer.output_shape = out->second;
    cost.total_macs += layer.macs;
    cost.layers.push_back(std::move(layer));
  }
  for (const auto& p : f.module().parameters(/*recurse=*/true)) {
    cost.total_params += p.numel();
  }
  return cost;
}

}  // namespace internal

absl::StatusOr<ModelCost> CountModelCost(
    const jit::Module& module, const std::vector<int64_t>& input_shape) {
  auto forward = InlinedForward::Create(module);
  if (!forward.ok()) return forward.status();
  auto shapes = (*forward)->RecordShapes(input_shape);
  if (!shapes.ok()) return shapes.status();
  return internal::CostFromShapes(**forward, *shapes);
}

}  // namespace pruneserve::pruning
