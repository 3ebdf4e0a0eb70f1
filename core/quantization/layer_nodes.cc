// Conv/linear recognition and forward replacement; see layer_nodes.h.
#include "core/quantization/layer_nodes.h"

#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include "core/util/torch_status.h"

namespace pruneserve::quantization::internal {

namespace jit = torch::jit;

bool IsConvNode(const jit::Node* node) {
  const auto kind = node->kind();
  if (kind == c10::aten::conv1d || kind == c10::aten::conv2d ||
      kind == c10::aten::conv3d) {
    return true;
  }
  if (kind == c10::aten::_convolution && node->inputs().size() > 6) {
    auto transposed = jit::toIValue(node->input(6));
    return transposed && transposed->isBool() && !transposed->toBool();
  }
  return false;
}

bool IsLinearNode(const jit::Node* node) {
  return node->kind() == c10::aten::linear;
}

bool IsTensorAddNode(const jit::Node* node) {
  return node->kind() == c10::aten::add && node->inputs().size() >= 2 &&
         pruning::internal::IsTensorValue(node->input(0)) &&
         pruning::internal::IsTensorValue(node->input(1));
}

std::optional<double> DoubleValue(
    const pruning::internal::InlinedForward& forward, const jit::Value* v) {
  if (auto c = jit::toIValue(v)) {
    if (c->isDouble()) return c->toDouble();
    if (c->isInt()) return static_cast<double>(c->toInt());
    return std::nullopt;
  }
  const std::string* path = forward.AttrPath(v);
  if (path == nullptr) return std::nullopt;
  auto value = pruning::internal::AttrAtPath(forward.module(), *path);
  if (!value.ok()) return std::nullopt;
  if (value->isDouble()) return value->toDouble();
  if (value->isInt()) return static_cast<double>(value->toInt());
  return std::nullopt;
}

absl::Status InstallForward(jit::Module& module,
                            const std::shared_ptr<jit::Graph>& graph) {
  try {
    auto copy = graph->copy();
    jit::EliminateDeadCode(copy);
    copy->lint();
    auto type = module.type();
    auto cu = module._ivalue()->compilation_unit();
    c10::QualifiedName name =
        module.get_method("forward").function().qualname();
    type->unsafeRemoveMethod("forward");
    cu->unsafeRemoveMethod(name);
    jit::Function* fn = cu->create_function(name, copy);
    type->addMethod(fn);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "installing rewritten forward",
                              absl::StatusCode::kInternal);
  }
  return absl::OkStatus();
}

}  // namespace pruneserve::quantization::internal
