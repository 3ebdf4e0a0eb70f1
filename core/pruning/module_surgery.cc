#include "core/pruning/module_surgery.h"

#include <torch/script.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "core/pruning/inlined_forward.h"
#include "core/util/torch_status.h"

namespace pruneserve::pruning {

namespace jit = torch::jit;
using internal::AttrAtPath;
using internal::SplitOwner;

KeepMasks KeepAll(const ChannelDependencyGraph& analysis) {
  KeepMasks keep;
  for (const ChannelGroup& g : analysis.groups()) {
    keep.emplace_back(g.channels.size(), true);
  }
  return keep;
}

namespace {

int64_t KeptCount(const std::vector<ChannelRef>& refs, const KeepMasks& keep) {
  int64_t n = 0;
  for (const ChannelRef& r : refs) {
    if (r.group < 0 || keep[r.group][r.channel]) ++n;
  }
  return n;
}

absl::Status ValidateMasks(const ChannelDependencyGraph& analysis,
                           const KeepMasks& keep) {
  if (keep.size() != analysis.groups().size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected ", analysis.groups().size(), " masks, got ", keep.size()));
  }
  for (const ChannelGroup& g : analysis.groups()) {
    const auto& mask = keep[g.id];
    if (mask.size() != g.channels.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("mask of group ", g.name, " has ", mask.size(),
                       " entries for ", g.channels.size(), " channels"));
    }
    int64_t kept = 0;
    for (bool k : mask) kept += k ? 1 : 0;
    if (!g.prunable && kept != static_cast<int64_t>(mask.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat("group ", g.name, " is frozen (", g.frozen_reason, ")"));
    }
    if (kept == 0 && !mask.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("pruning would remove every channel of ", g.name));
    }
  }
  return absl::OkStatus();
}

// Sets int `name` on `owner` to `value`: an attribute is per instance; a
// class constant is changed only when no other submodule shares the class.
void SetCount(jit::Module& owner, const std::string& owner_path,
              const std::string& name, int64_t value,
              const std::unordered_map<const c10::ClassType*, int>& type_uses,
              SurgeryResult& result) {
  auto type = owner.type();
  if (type->hasAttribute(name)) {
    if (owner.attr(name).isInt()) owner.setattr(name, value);
    return;
  }
  if (!type->hasConstant(name)) return;
  auto current = type->getConstant(name);
  if (!current.isInt() || current.toInt() == value) return;
  auto it = type_uses.find(type.get());
  if (it != type_uses.end() && it->second == 1) {
    type->unsafeRemoveConstant(name);
    type->addConstant(name, value);
  } else {
    result.warnings.push_back(
        absl::StrCat(owner_path, ".", name,
                     " is a constant of a shared class type; left at ",
                     current.toInt(), " (now ", value, ")"));
  }
}

void UpdateCounts(jit::Module& root, const std::set<std::string>& owners,
                  SurgeryResult& result) {
  std::unordered_map<const c10::ClassType*, int> type_uses;
  for (const auto& m : root.modules()) type_uses[m.type().get()]++;
  for (const std::string& path : owners) {
    auto value = AttrAtPath(root, path);
    if (!value.ok() || !value->isObject()) continue;
    jit::Module owner(value->toObject());
    auto type = owner.type();
    std::optional<torch::Tensor> weight;
    if (type->hasAttribute("weight") && owner.attr("weight").isTensor()) {
      weight = owner.attr("weight").toTensor();
    }
    if (type->hasAttribute("running_mean") &&
        owner.attr("running_mean").isTensor()) {
      SetCount(owner, path, "num_features",
               owner.attr("running_mean").toTensor().size(0), type_uses,
               result);
    } else if (weight && weight->dim() == 4) {
      int64_t groups = 1;
      if (type->hasAttribute("groups") && owner.attr("groups").isInt()) {
        groups = owner.attr("groups").toInt();
      } else if (type->hasConstant("groups")) {
        auto g = type->getConstant("groups");
        if (g.isInt()) groups = g.toInt();
      }
      // A depthwise conv keeps groups == channels.
      if (groups > 1 && weight->size(1) == 1 && groups != weight->size(0)) {
        SetCount(owner, path, "groups", weight->size(0), type_uses, result);
        groups = weight->size(0);
      }
      SetCount(owner, path, "out_channels", weight->size(0), type_uses, result);
      SetCount(owner, path, "in_channels", weight->size(1) * groups, type_uses,
               result);
    } else if (weight && weight->dim() == 2) {
      SetCount(owner, path, "out_features", weight->size(0), type_uses, result);
      SetCount(owner, path, "in_features", weight->size(1), type_uses, result);
    } else if (weight && weight->dim() == 1) {
      SetCount(owner, path, "num_features", weight->size(0), type_uses, result);
    }
  }
}

// Replaces `fn`, a method of `type`, by a new function running `graph`, so
// that nothing compiled or inlined from the old one (an executor, an
// optimised graph) survives.
void ReplaceMethod(jit::CompilationUnit& cu, const c10::ClassTypePtr& type,
                   jit::Function& fn, std::shared_ptr<jit::Graph> graph) {
  const c10::QualifiedName name = fn.qualname();
  type->unsafeRemoveMethod(fn.name());
  cu.unsafeRemoveMethod(name);  // destroys fn
  type->addMethod(cu.create_function(name, std::move(graph)));
}

void InstallForward(jit::Module& module, const std::shared_ptr<jit::Graph>& g) {
  // The graph itself, not a copy: the analysis is spent after the surgery.
  ReplaceMethod(*module._ivalue()->compilation_unit(), module.type(),
                module.get_method("forward").function(), g);
}

// A constant of the analysed graph that must take a new value.
struct CodeEdit {
  const CountSite* site;
  c10::IValue value;
};

bool SameValue(const c10::IValue& a, const c10::IValue& b) {
  if (a.isInt() && b.isInt()) return a.toInt() == b.toInt();
  if (a.isIntList() && b.isIntList()) return a.toIntVector() == b.toIntVector();
  return false;
}

// A constant, or a list written out of constants (`[8]`).
bool IsLiteral(const jit::Node* node) {
  if (node->kind() == c10::prim::Constant) return true;
  if (node->kind() != c10::prim::ListConstruct) return false;
  for (const jit::Value* v : node->inputs()) {
    if (v->node()->kind() != c10::prim::Constant) return false;
  }
  return true;
}

// Writes each edit's value into the method code the constant was inlined
// from, so the module keeps its own methods (and a submodule called on its
// own computes what it computes inside the model). Possible only when every
// instance of the class holding that code gets the same value, and no free
// function (shared by every caller) is involved. Returns the number of
// constants written: 0 when it is not possible, and then nothing changed.
int EditMethodsInPlace(const jit::Module& root,
                       internal::InlinedForward& forward,
                       const std::vector<CodeEdit>& edits) {
  std::vector<const jit::Node*> nodes;
  for (const CodeEdit& e : edits) nodes.push_back(e.site->node);
  const std::vector<std::optional<internal::CodeOrigin>> origins =
      forward.Origins(nodes);
  struct Planned {
    c10::IValue value;
    const c10::ClassType* type = nullptr;
    std::set<std::string> instances;
  };
  std::map<std::pair<jit::Node*, size_t>, Planned> planned;
  for (size_t i = 0; i < edits.size(); ++i) {
    const auto& origin = origins[i];
    if (!origin || origin->through_function || !origin->instance) return 0;
    const size_t input = edits[i].site->input;
    if (!IsLiteral(origin->node->input(input)->node())) {
      return 0;  // an attribute, or computed in the code
    }
    Planned& p = planned[{origin->node, input}];
    if (!p.instances.empty() && !SameValue(p.value, edits[i].value)) return 0;
    p.value = edits[i].value;
    p.type = origin->methods.back().first.get();
    p.instances.insert(*origin->instance);
  }
  std::unordered_map<const c10::ClassType*, size_t> instances_of;
  for (const auto& m : root.modules()) instances_of[m.type().get()]++;
  for (const auto& [where, p] : planned) {
    if (p.instances.size() != instances_of[p.type]) return 0;
  }
  std::map<jit::GraphFunction*, c10::ClassTypePtr> renew;
  for (const auto& origin : origins) {
    for (const auto& [type, fn] : origin->methods) {
      auto cu = type->compilation_unit();
      if (cu == nullptr || cu->find_function(fn->qualname()) != fn) return 0;
      renew[fn] = type;
    }
  }
  for (const auto& [where, p] : planned) {
    auto [node, input] = where;
    jit::WithInsertPoint guard(node);
    node->replaceInput(input, node->owningGraph()->insertConstant(p.value));
  }
  for (const auto& [fn, type] : renew) {
    // The same graph in a new function.
    ReplaceMethod(*type->compilation_unit(), type, *fn, fn->graph());
  }
  return static_cast<int>(planned.size());
}

}  // namespace

absl::StatusOr<SurgeryResult> ApplyChannelPruning(
    ChannelDependencyGraph& analysis, const KeepMasks& keep) {
  if (auto s = ValidateMasks(analysis, keep); !s.ok()) return s;
  jit::Module module = analysis.forward().module();
  SurgeryResult result;
  // tensor path (interned by the analysis) -> dim -> removed indices
  // (unsorted, possibly repeated)
  std::unordered_map<const std::string*, std::map<int, std::vector<int64_t>>>
      removed;
  for (const ChannelGroup& g : analysis.groups()) {
    for (size_t c = 0; c < g.channels.size(); ++c) {
      if (keep[g.id][c]) continue;
      for (const TensorSlice& s : g.channels[c].slices) {
        auto& indices = removed[s.tensor][s.dim];
        for (int64_t i = 0; i < s.count; ++i) indices.push_back(s.index + i);
      }
    }
  }
  std::set<std::string> owners;
  try {
    torch::NoGradGuard no_grad;
    for (const auto& [interned, dims] : removed) {
      const std::string& path = *interned;
      auto value = AttrAtPath(module, path);
      if (!value.ok() || !value->isTensor()) {
        return absl::InternalError(absl::StrCat("lost tensor ", path));
      }
      torch::Tensor original = value->toTensor();
      torch::Tensor t = original;
      for (const auto& [dim, drop] : dims) {
        std::vector<char> dropped(t.size(dim), 0);
        for (int64_t i : drop) {
          if (i < 0 || i >= t.size(dim)) {
            return absl::InternalError(absl::StrCat(
                "channel ", i, " is outside dimension ", dim, " of ", path));
          }
          dropped[i] = 1;
        }
        std::vector<int64_t> idx;
        for (int64_t i = 0; i < t.size(dim); ++i) {
          if (!dropped[i]) idx.push_back(i);
        }
        t = t.index_select(dim, torch::tensor(idx, torch::kLong));
      }
      t = t.contiguous();
      t.set_requires_grad(original.requires_grad());
      auto [owner_path, name] = SplitOwner(path);
      auto owner = AttrAtPath(module, owner_path);
      owner->toObject()->setAttr(name, t);
      owners.insert(owner_path);
    }
    // Channel counts the program holds: attributes are set; constants of
    // the code are edited where they are written (EditMethodsInPlace) or,
    // failing that, in the unspecialised inlined graph, which then replaces
    // forward (InstallForward). Both keep train() and the attributes working.
    internal::InlinedForward& forward = analysis.forward();
    std::vector<CodeEdit> edits;
    for (const CountSite& site : analysis.count_sites()) {
      const int64_t n =
          KeptCount(site.channels, keep) / std::max<int64_t>(1, site.divisor);
      if (site.kind == CountSite::Kind::kAttribute) {
        auto [owner_path, name] = SplitOwner(site.attribute);
        auto owner = AttrAtPath(module, owner_path);
        owner->toObject()->setAttr(name, n);
        continue;
      }
      // The specialised graph knows the value (it folded it to a constant).
      auto current = jit::toIValue(site.node->input(site.input));
      if (!current) {
        return absl::InternalError(
            absl::StrCat("channel count of ", site.node->kind().toQualString(),
                         " is not a constant"));
      }
      c10::IValue replacement_value;
      if (site.list_index >= 0) {
        if (!current->isIntList()) {
          return absl::InternalError("channel count list is not an int list");
        }
        auto sizes = current->toIntVector();
        if (sizes[site.list_index] == n) continue;
        sizes[site.list_index] = n;
        replacement_value = sizes;
      } else {
        if (!current->isInt()) {
          return absl::InternalError("channel count is not an int");
        }
        if (current->toInt() == n) continue;
        replacement_value = n;
      }
      edits.push_back({&site, std::move(replacement_value)});
    }
    if (!edits.empty()) {
      result.constants_rewritten = EditMethodsInPlace(module, forward, edits);
    }
    if (!edits.empty() && result.constants_rewritten == 0) {
      const std::shared_ptr<jit::Graph>& graph = forward.SourceGraph();
      for (const CodeEdit& edit : edits) {
        jit::Node* node = forward.SourceNode(edit.site->node);
        if (node == nullptr) {
          return absl::InternalError(
              absl::StrCat("no source code for the channel count of ",
                           edit.site->node->kind().toQualString()));
        }
        jit::Value* old = node->input(edit.site->input);
        // An int the source reads from a module attribute: set it.
        if (const std::string* path = forward.AttrPath(old);
            path != nullptr && edit.value.isInt()) {
          auto [owner_path, name] = SplitOwner(*path);
          auto owner = AttrAtPath(module, owner_path);
          if (owner.ok() && owner->isObject()) {
            owner->toObject()->setAttr(name, edit.value);
            continue;
          }
        }
        jit::WithInsertPoint guard(node);
        jit::Value* replacement = graph->insertConstant(edit.value);
        node->replaceInput(edit.site->input, replacement);
        result.forward_rewritten = true;
      }
      if (result.forward_rewritten) InstallForward(module, graph);
    }
    UpdateCounts(module, owners, result);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "channel surgery",
                              absl::StatusCode::kInternal);
  }
  return result;
}

}  // namespace pruneserve::pruning
