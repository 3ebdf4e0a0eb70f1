// Quantization points and fake-quant insertion; see fake_quant_graph.h.
#include "core/quantization/fake_quant_graph.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "core/quantization/fix_point.h"
#include "core/quantization/layer_nodes.h"
#include "core/util/torch_status.h"

namespace pruneserve::quantization::internal {

namespace jit = torch::jit;
using pruning::internal::InlinedForward;
using pruning::internal::IsTensorValue;
using pruning::internal::SplitOwner;

absl::StatusOr<QuantPoints> FindQuantPoints(const InlinedForward& forward) {
  QuantPoints points;
  std::set<std::string> seen_params;
  std::set<const jit::Value*> seen_values;
  auto add_activation = [&](jit::Value* v, std::string name) {
    if (!IsTensorValue(v) || !seen_values.insert(v).second) return;
    points.activations.push_back({std::move(name), v});
  };
  const auto& graph = forward.graph();
  add_activation(graph->inputs()[1], "input");
  int layers = 0;
  for (jit::Node* node : graph->nodes()) {
    if (IsConvNode(node) || IsLinearNode(node)) {
      ++layers;
      const std::string* weight = forward.AttrPath(node->input(1));
      if (weight == nullptr || !forward.TensorAttr(node->input(1))) {
        return absl::FailedPreconditionError(
            absl::StrCat(node->kind().toQualString(), " producing %",
                         node->output()->debugName(),
                         " reads a weight that is not a module parameter"));
      }
      if (seen_params.insert(*weight).second) {
        points.params.push_back({*weight, ParamKind::kWeight});
      }
      const std::string* bias = forward.AttrPath(node->input(2));
      if (bias != nullptr && forward.TensorAttr(node->input(2)) &&
          seen_params.insert(*bias).second) {
        points.params.push_back({*bias, ParamKind::kBias});
      }
      add_activation(node->input(0),
                     absl::StrCat(SplitOwner(*weight).first, ".input"));
    } else if (IsTensorAddNode(node)) {
      add_activation(node->output(),
                     absl::StrCat("add.", node->output()->debugName()));
    }
  }
  if (layers == 0) {
    return absl::FailedPreconditionError(
        "model has no conv or linear layer to quantize");
  }
  for (jit::Value* out : graph->outputs()) add_activation(out, "output");
  return points;
}

absl::Status InstallFakeQuant(InlinedForward& forward,
                              const std::vector<ActivationPoint>& points,
                              const std::vector<int>& fix_points,
                              int bit_width) {
  if (points.size() != fix_points.size()) {
    return absl::InternalError(absl::StrCat(points.size(), " activations but ",
                                            fix_points.size(), " fix_points"));
  }
  const auto& graph = forward.graph();
  const double qmin = static_cast<double>(QuantMin(bit_width));
  const double qmax = static_cast<double>(QuantMax(bit_width));
  try {
    for (size_t i = 0; i < points.size(); ++i) {
      jit::Value* v = points[i].value;
      jit::Node* before = v->node()->kind() == c10::prim::Param
                              ? *graph->nodes().begin()
                              : v->node()->next();
      jit::WithInsertPoint guard(before);
      // q = clamp(round_half_up(v * 2^f)), out = q * 2^-f. aten::round ties
      // to even, so ties it rounded down (v*2^f - r == 0.5) are bumped up;
      // both steps are exact in float.
      jit::Value* scaled =
          graph->insert(c10::aten::mul, {v, FixPointScale(fix_points[i])});
      jit::Node* first = scaled->node();
      jit::Value* rounded = graph->insert(c10::aten::round, {scaled});
      jit::Value* diff = graph->insert(c10::aten::sub, {scaled, rounded});
      jit::Value* tie = graph->insert(c10::aten::eq, {diff, 0.5});
      jit::Value* up = graph->insert(c10::aten::add, {rounded, tie});
      jit::Value* clamped = graph->insert(c10::aten::clamp, {up, qmin, qmax});
      jit::Value* out = graph->insert(c10::aten::mul,
                                      {clamped, FixPointScale(-fix_points[i])});
      v->replaceAllUsesWith(out);
      first->replaceInput(0, v);
    }
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "inserting fake-quant ops",
                              absl::StatusCode::kInternal);
  }
  jit::Module module = forward.module();
  return InstallForward(module, graph);
}

}  // namespace pruneserve::quantization::internal
