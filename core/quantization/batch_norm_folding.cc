// BatchNorm folding on the inlined forward graph; see batch_norm_folding.h.
#include "core/quantization/batch_norm_folding.h"

#include <map>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/pruning/inlined_forward.h"
#include "core/quantization/layer_nodes.h"
#include "core/util/torch_status.h"

namespace pruneserve::quantization {
namespace {

namespace jit = torch::jit;
using pruning::internal::AttrAtPath;
using pruning::internal::InlinedForward;
using pruning::internal::SplitOwner;

// How many conv/linear nodes read each parameter path: a parameter read by
// two layers (weight sharing) must not be rewritten for one of them.
std::map<std::string, int> LayerParamUses(const InlinedForward& forward) {
  std::map<std::string, int> uses;
  for (jit::Node* node : forward.graph()->nodes()) {
    if (!internal::IsConvNode(node) && !internal::IsLinearNode(node)) continue;
    for (size_t i = 1; i <= 2 && i < node->inputs().size(); ++i) {
      if (const std::string* p = forward.AttrPath(node->input(i))) ++uses[*p];
    }
  }
  return uses;
}

// Nodes that read a value's data, not just its shape: folding changes the
// conv output's values, so it may only feed the BatchNorm. (nn.BatchNorm2d
// checks input.dim() and input.size() before normalising.)
size_t ValueReaders(const jit::Value* v) {
  size_t n = 0;
  for (const jit::Use& use : v->uses()) {
    const auto kind = use.user->kind();
    if (kind != c10::aten::dim && kind != c10::aten::size) {
      ++n;
    }
  }
  return n;
}

std::string PathOf(const InlinedForward& forward, const jit::Value* v) {
  const std::string* p = forward.AttrPath(v);
  return p == nullptr ? std::string() : *p;
}

// The module path owning a parameter ("features.conv0" for
// "features.conv0.weight"), or the value's debug name when it is not one.
std::string LayerName(const InlinedForward& forward, const jit::Value* param,
                      const jit::Node* node) {
  const std::string* p = forward.AttrPath(param);
  if (p != nullptr) return SplitOwner(*p).first;
  return absl::StrCat("%", node->output()->debugName());
}

absl::Status SetTensorAttr(jit::Module& module, const std::string& path,
                           const torch::Tensor& value) {
  auto [owner_path, name] = SplitOwner(path);
  auto owner = AttrAtPath(module, owner_path);
  if (!owner.ok()) return owner.status();
  if (!owner->isObject()) {
    return absl::InternalError(absl::StrCat(owner_path, " is not a module"));
  }
  owner->toObject()->setAttr(name, value);
  return absl::OkStatus();
}

std::string UniqueRootName(const jit::Module& module, std::string base) {
  std::string name = base;
  for (int i = 1; module.type()->hasAttribute(name); ++i) {
    name = absl::StrCat(base, "_", i);
  }
  return name;
}

}  // namespace

absl::StatusOr<BatchNormFoldResult> FoldBatchNorms(const jit::Module& model) {
  BatchNormFoldResult result;
  try {
    result.module = model.clone();
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "cloning model for BatchNorm folding",
                              absl::StatusCode::kFailedPrecondition);
  }
  auto forward_or = InlinedForward::Create(result.module);
  if (!forward_or.ok()) return forward_or.status();
  InlinedForward& forward = **forward_or;
  const std::shared_ptr<jit::Graph>& graph = forward.graph();
  const std::map<std::string, int> uses = LayerParamUses(forward);

  std::vector<jit::Node*> bns;
  for (jit::Node* node : graph->nodes()) {
    if (node->kind() == c10::aten::batch_norm) bns.push_back(node);
  }
  try {
    torch::NoGradGuard no_grad;
    for (jit::Node* bn : bns) {
      const std::string bn_name = LayerName(forward, bn->input(3), bn);
      auto skip = [&](absl::string_view why) {
        result.skipped.push_back(absl::StrCat(bn_name, ": ", why));
      };
      jit::Value* y = bn->input(0);
      jit::Node* conv = y->node();
      if (!internal::IsConvNode(conv)) {
        skip("input is not a conv");
        continue;
      }
      if (ValueReaders(y) != 1) {
        skip("the conv output is also used elsewhere");
        continue;
      }
      const std::string weight_path = PathOf(forward, conv->input(1));
      std::optional<torch::Tensor> weight = forward.TensorAttr(conv->input(1));
      if (!weight || weight_path.empty()) {
        skip("the conv weight is not a module parameter");
        continue;
      }
      if (uses.at(weight_path) != 1) {
        skip("the conv weight is shared with another layer");
        continue;
      }
      std::optional<torch::Tensor> mean = forward.TensorAttr(bn->input(3));
      std::optional<torch::Tensor> var = forward.TensorAttr(bn->input(4));
      std::optional<double> eps = internal::DoubleValue(forward, bn->input(7));
      if (!mean || !var || !eps) {
        skip("no running statistics or eps");
        continue;
      }
      const int64_t out = weight->size(0);
      if (mean->numel() != out || var->numel() != out) {
        skip(absl::StrCat("statistics have ", mean->numel(),
                          " channels, the conv ", out));
        continue;
      }
      const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
      std::optional<torch::Tensor> gamma = forward.TensorAttr(bn->input(1));
      std::optional<torch::Tensor> beta = forward.TensorAttr(bn->input(2));
      torch::Tensor g =
          gamma ? gamma->to(torch::kDouble) : torch::ones({out}, f64);
      torch::Tensor b =
          beta ? beta->to(torch::kDouble) : torch::zeros({out}, f64);
      const std::string bias_path = PathOf(forward, conv->input(2));
      std::optional<torch::Tensor> bias = forward.TensorAttr(conv->input(2));
      torch::Tensor b0 =
          bias ? bias->to(torch::kDouble) : torch::zeros({out}, f64);

      torch::Tensor s = g / (var->to(torch::kDouble) + *eps).sqrt();
      std::vector<int64_t> view(weight->dim(), 1);
      view[0] = out;
      torch::Tensor new_weight = (weight->to(torch::kDouble) * s.view(view))
                                     .to(weight->scalar_type())
                                     .contiguous();
      torch::Tensor new_bias = ((b0 - mean->to(torch::kDouble)) * s + b)
                                   .to(weight->scalar_type())
                                   .contiguous();
      new_weight.set_requires_grad(weight->requires_grad());
      new_bias.set_requires_grad(weight->requires_grad());

      if (auto st = SetTensorAttr(result.module, weight_path, new_weight);
          !st.ok()) {
        return st;
      }
      if (bias && !bias_path.empty() && uses.at(bias_path) == 1) {
        if (auto st = SetTensorAttr(result.module, bias_path, new_bias);
            !st.ok()) {
          return st;
        }
      } else {
        // No bias of its own (None, often a class-wide type shared by other
        // convs): give the root a new parameter and read it from the graph.
        const std::string conv_path = SplitOwner(weight_path).first;
        const std::string name = UniqueRootName(
            result.module,
            absl::StrCat(absl::StrReplaceAll(conv_path, {{".", "_"}}),
                         "_folded_bias"));
        result.module.register_parameter(name, new_bias, /*is_buffer=*/false);
        jit::WithInsertPoint guard(conv);
        jit::Value* read = graph->insertGetAttr(graph->inputs()[0], name);
        conv->replaceInput(2, read);
      }
      bn->output()->replaceAllUsesWith(y);
      bn->destroy();
      result.folded.push_back({SplitOwner(weight_path).first, bn_name});
    }
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "folding BatchNorm",
                              absl::StatusCode::kInternal);
  }
  if (auto st = internal::InstallForward(result.module, graph); !st.ok()) {
    return st;
  }
  return result;
}

}  // namespace pruneserve::quantization
