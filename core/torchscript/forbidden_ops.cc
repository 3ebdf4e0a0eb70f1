#include "core/torchscript/forbidden_ops.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/passes/inliner.h>

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/util/torch_status.h"

namespace pruneserve {
namespace {

constexpr char kCallFunction[] = "prim::CallFunction";

// The callee of a prim::CallFunction node, for the message.
std::string CalleeName(const torch::jit::Node* node) {
  if (node->inputs().empty()) return "an unknown function";
  const c10::TypePtr type = node->input(0)->type();
  if (auto fn = type->cast<c10::FunctionType>()) {
    return fn->function()->qualname().qualifiedName();
  }
  return "a function value computed at run time";
}

// The first forbidden node in `block` and its sub-blocks, as an error.
std::optional<absl::Status> FindForbidden(const torch::jit::Block* block,
                                          const std::string& function,
                                          const ForbiddenOpsOptions& options) {
  for (const torch::jit::Node* node : block->nodes()) {
    const c10::Symbol kind = node->kind();
    const std::string name = kind.toQualString();
    auto op =
        std::find_if(options.ops.begin(), options.ops.end(),
                     [&](const ForbiddenOp& o) { return o.name == name; });
    std::string reason;
    if (op != options.ops.end()) {
      reason = op->reason;
      if (name == kCallFunction) {
        reason = absl::StrCat(reason, " (", CalleeName(node), ")");
      }
    } else {
      const std::string ns = kind.ns().toUnqualString();
      if (std::find(options.namespaces.begin(), options.namespaces.end(), ns) !=
          options.namespaces.end()) {
        reason = absl::StrCat("the ", ns,
                              ":: ops reach other processes over the network");
      }
    }
    if (!reason.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model uses forbidden op ", name, " in ", function, ": ", reason));
    }
    for (const torch::jit::Block* sub : node->blocks()) {
      if (auto hit = FindForbidden(sub, function, options)) return hit;
    }
  }
  return std::nullopt;
}

}  // namespace

std::vector<ForbiddenOp> ForbiddenOpsOptions::DefaultForbiddenOps() {
  return {
      {"aten::from_file", "it reads a file on the server"},
      {"aten::save", "it writes a file on the server"},
      {"prim::rpc_async", "it calls another process over the network"},
      {"prim::rpc_sync", "it calls another process over the network"},
      {"prim::rpc_remote", "it calls another process over the network"},
      {"prim::fork", "it starts a task that outlives the call"},
      {"aten::wait", "it waits on a task started outside the call"},
      {kCallFunction, "it calls a function the archive does not define"},
  };
}

absl::Status CheckForbiddenOps(const torch::jit::Module& module,
                               const ForbiddenOpsOptions& options) {
  try {
    const auto& unit = module._ivalue()->compilation_unit();
    for (torch::jit::Function* fn : unit->get_functions()) {
      torch::jit::GraphFunction* graph_fn = torch::jit::tryToGraphFunction(*fn);
      if (graph_fn == nullptr) continue;
      std::shared_ptr<torch::jit::Graph> graph = graph_fn->graph()->copy();
      torch::jit::Inline(*graph);
      if (auto hit = FindForbidden(graph->block(),
                                   fn->qualname().qualifiedName(), options)) {
        return *hit;
      }
    }
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "cannot inspect the archive's code");
  }
  return absl::OkStatus();
}

}  // namespace pruneserve
