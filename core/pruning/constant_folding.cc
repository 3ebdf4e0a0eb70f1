#include "core/pruning/constant_folding.h"

#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/constant_propagation.h>

#include <exception>
#include <optional>
#include <vector>

namespace pruneserve::pruning::internal {

namespace jit = torch::jit;

namespace {

bool IsConstant(const jit::Value* v) {
  return v->node()->kind() == c10::prim::Constant;
}

bool IsContainer(const c10::TypePtr& type) {
  return type->kind() == c10::TypeKind::ListType ||
         type->kind() == c10::TypeKind::DictType;
}

}  // namespace

bool WritesContainer(const jit::Node* node) {
  // Most nodes take no container: skip the schema lookup for them.
  bool takes_container = false;
  for (const jit::Value* in : node->inputs()) {
    takes_container = takes_container || IsContainer(in->type());
  }
  if (!takes_container) return false;
  const c10::FunctionSchema* schema = node->maybeSchema();
  if (schema == nullptr) return false;
  const auto& args = schema->arguments();
  for (size_t i = 0; i < args.size() && i < node->inputs().size(); ++i) {
    const c10::AliasInfo* alias = args[i].alias_info();
    if (alias != nullptr && alias->isWrite() &&
        IsContainer(node->input(i)->type())) {
      return true;
    }
  }
  return false;
}

namespace {

// True when no use of `list` can write it or keep an alias of it: every
// user is an operator whose schema gives that argument no alias annotation.
bool ListIsReadOnly(const jit::Value* list) {
  for (const jit::Use& use : list->uses()) {
    const c10::FunctionSchema* schema = use.user->maybeSchema();
    if (schema == nullptr) return false;  // a block return, a tuple, ...
    const auto& args = schema->arguments();
    if (use.offset >= args.size() || args[use.offset].alias_info() != nullptr) {
      return false;
    }
  }
  return true;
}

bool AllInputsConstant(const jit::Node* node) {
  for (const jit::Value* in : node->inputs()) {
    if (!IsConstant(in)) return false;
  }
  return true;
}

// Scalars, strings and devices, and optionals and tuples of them, cannot
// be written or aliased; anything else (tensors, lists, objects) may be.
bool IsImmutableType(const c10::TypePtr& type) {
  switch (type->kind()) {
    case c10::TypeKind::IntType:
    case c10::TypeKind::FloatType:
    case c10::TypeKind::BoolType:
    case c10::TypeKind::NumberType:
    case c10::TypeKind::NoneType:
    case c10::TypeKind::StringType:
    case c10::TypeKind::DeviceObjType:
      return true;
    case c10::TypeKind::OptionalType:
      return IsImmutableType(
          type->expectRef<c10::OptionalType>().getElementType());
    case c10::TypeKind::TupleType:
      for (const c10::TypePtr& element : type->containedTypes()) {
        if (!IsImmutableType(element)) return false;
      }
      return true;
    default:
      return false;
  }
}

bool AllImmutable(at::ArrayRef<const jit::Value*> values) {
  for (const jit::Value* v : values) {
    if (!IsImmutableType(v->type())) return false;
  }
  return true;
}

bool Foldable(const jit::Node* node) {
  if (!node->blocks().empty() || node->inputs().empty() ||
      node->kind() == c10::prim::Constant ||
      node->kind() == c10::prim::RaiseException || !AllInputsConstant(node) ||
      node->hasSideEffects() || node->isNondeterministic()) {
    return false;
  }
  if (node->kind() == c10::prim::ListConstruct) {
    return AllImmutable(node->inputs()) && ListIsReadOnly(node->output());
  }
  return AllImmutable(node->inputs()) && AllImmutable(node->outputs());
}

// Constants (inserted before `node`) of what `node` computes, or nullopt
// when it cannot be run (it fails at runtime, which is left to the run) or
// a result has no constant form.
std::optional<std::vector<jit::Value*>> ConstantsOf(jit::Graph& graph,
                                                    jit::Node* node) {
  c10::optional<jit::Stack> results;
  try {
    results = jit::runNodeIfInputsAreConstant(node);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (!results || results->size() != node->outputs().size()) {
    return std::nullopt;
  }
  jit::WithInsertPoint guard(node);
  std::vector<jit::Value*> constants;
  for (size_t i = 0; i < results->size(); ++i) {
    auto constant = jit::tryInsertConstant(graph, (*results)[i]);
    if (!constant) return std::nullopt;  // (those inserted so far are dead)
    // None keeps its Optional type, as the uses expect.
    if ((*results)[i].isNone()) (*constant)->setType(node->output(i)->type());
    constants.push_back(*constant);
  }
  return constants;
}

// Replaces the outputs of `node` by constants of what it computes; leaves
// the node (dead) in place. Does nothing when it cannot be run.
void FoldNode(jit::Graph& graph, jit::Node* node) {
  auto constants = ConstantsOf(graph, node);
  if (!constants) return;
  for (size_t i = 0; i < constants->size(); ++i) {
    node->output(i)->replaceAllUsesWith((*constants)[i]);
  }
}

// Moves the nodes of the taken branch of `node` (a prim::If) before it,
// replaces its outputs by the branch's and destroys it. Returns the first
// moved node, or the node after `node` when the branch was empty.
jit::Node* InlineTakenBranch(jit::Node* node, bool condition) {
  jit::Block* taken = node->blocks()[condition ? 0 : 1];
  jit::Node* next = node->next();
  jit::Node* first = nullptr;
  for (jit::Node* inner = taken->nodes().front();
       inner != taken->return_node();) {
    jit::Node* following = inner->next();
    inner->moveBefore(node);
    if (first == nullptr) first = inner;
    inner = following;
  }
  for (size_t i = 0; i < node->outputs().size(); ++i) {
    node->output(i)->replaceAllUsesWith(taken->outputs()[i]);
  }
  node->destroy();
  return first != nullptr ? first : next;
}

void FoldBlock(jit::Graph& graph, jit::Block* block) {
  jit::Node* node = block->nodes().front();
  while (node != block->return_node()) {
    if (node->kind() == c10::prim::If && IsConstant(node->input(0))) {
      node = InlineTakenBranch(node, jit::toIValue(node->input(0))->toBool());
      continue;
    }
    for (jit::Block* sub : node->blocks()) FoldBlock(graph, sub);
    if (Foldable(node)) FoldNode(graph, node);
    node = node->next();
  }
}

}  // namespace

bool AnyNode(const jit::Block* block,
             const std::function<bool(const jit::Node*)>& pred) {
  for (const jit::Node* node : block->nodes()) {
    if (pred(node)) return true;
    for (const jit::Block* sub : node->blocks()) {
      if (AnyNode(sub, pred)) return true;
    }
  }
  return false;
}

bool NeedsGenericPasses(const jit::Block* block) {
  return AnyNode(block, [](const jit::Node* node) {
    return node->kind() == c10::prim::Loop || WritesContainer(node);
  });
}

void FoldConstants(jit::Graph& graph) { FoldBlock(graph, graph.block()); }

std::optional<std::vector<jit::Value*>> FoldScalarNode(jit::Graph& graph,
                                                       jit::Node* node) {
  if (node->kind() == c10::prim::ListConstruct || !Foldable(node)) {
    return std::nullopt;
  }
  return ConstantsOf(graph, node);
}

}  // namespace pruneserve::pruning::internal
