#include "core/pruning/specializing_inliner.h"

#include <torch/csrc/jit/ir/constants.h>

#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/pruning/constant_folding.h"

namespace pruneserve::pruning::internal {

namespace jit = torch::jit;

jit::GraphFunction* CalleeOf(const jit::Node* node, c10::ClassTypePtr* owner) {
  jit::Function* fn = nullptr;
  if (node->kind() == c10::prim::CallMethod) {
    if (auto cls = node->input(0)->type()->cast<c10::ClassType>()) {
      fn = &cls->getMethod(node->s(c10::attr::name));
      if (owner != nullptr) *owner = cls;
    }
  } else if (node->kind() == c10::prim::CallFunction) {
    if (auto f = node->input(0)->type()->cast<c10::FunctionType>()) {
      fn = f->function();
    }
  }
  return fn == nullptr ? nullptr : jit::tryToGraphFunction(*fn);
}

jit::Value* MappedValue(const ValueMap& map, const jit::Value* v) {
  auto it = map.find(v);
  if (it == map.end()) {
    throw std::runtime_error("inlining: a value is used outside its scope");
  }
  return it->second;
}

jit::Node* CopyNodeBefore(const jit::Node& node, jit::Node* before,
                          ValueMap& map) {
  jit::Node* copy = before->owningGraph()->create(node.kind(), 0);
  copy->copyAttributes(node);
  copy->setSourceRange(node.sourceRange());
  for (const jit::Value* in : node.inputs()) {
    copy->addInput(MappedValue(map, in));
  }
  for (const jit::Value* out : node.outputs()) {
    map[out] = copy->addOutput()->setType(out->type());
  }
  copy->insertBefore(before);
  return copy;
}

jit::Value* InsertAttrConstant(jit::Graph& graph,
                               const c10::ivalue::Object& object,
                               const jit::Node& read) {
  const c10::TypePtr& type = read.output()->type();
  const std::string& name = read.s(c10::attr::name);
  if (type->kind() == c10::TypeKind::TensorType ||
      type->kind() == c10::TypeKind::ClassType ||
      !object.type()->hasAttribute(name)) {
    return nullptr;
  }
  c10::IValue value = object.getAttr(name);
  if (value.isTensor() || value.isObject()) return nullptr;
  if (name == "training") value = false;
  auto constant = jit::tryInsertConstant(graph, value);
  if (!constant) return nullptr;
  return (*constant)->setType(type);
}

bool BlockRaises(const jit::Block& block) {
  for (const jit::Node* node : block.nodes()) {
    if (node->kind() == c10::prim::RaiseException) return true;
    if (jit::GraphFunction* callee = CalleeOf(node)) {
      if (BlockRaises(*callee->graph()->block())) return true;
    }
  }
  return false;
}

namespace {

// One walk of the call tree of a module instance's forward. Not reusable.
class Walk {
 public:
  explicit Walk(const jit::Module& module)
      : result_(std::make_unique<SpecializedForward>()),
        graph_(*(result_->graph = std::make_shared<jit::Graph>())) {
    module_ = module._ivalue();
  }

  std::unique_ptr<SpecializedForward> Run(const jit::Graph& forward) {
    ValueMap env;
    for (const jit::Value* in : forward.inputs()) {
      env[in] = graph_.addInput()->setType(in->type());
    }
    objects_[graph_.inputs()[0]] = module_;
    if (!EmitBlock(*forward.block(), graph_.block(), env)) return nullptr;
    for (const jit::Value* out : forward.outputs()) {
      graph_.registerOutput(MappedValue(env, out));
    }
    result_->source_count = position_;
    return std::move(result_);
  }

 private:
  // Copies what runs of `from` to the end of `to`. False when the walk
  // declines (see the header).
  bool EmitBlock(const jit::Block& from, jit::Block* to, ValueMap& env) {
    for (const jit::Node* node : from.nodes()) {
      if (!EmitNode(*node, to, env)) return false;
    }
    return true;
  }

  bool EmitNode(const jit::Node& node, jit::Block* to, ValueMap& env) {
    if (jit::GraphFunction* callee = CalleeOf(&node)) {
      return EmitCall(node, *callee->graph(), to, env);
    }
    switch (node.kind()) {
      case c10::prim::If:
        return EmitIf(node, to, env);
      case c10::prim::GetAttr:
        if (EmitAttrConstant(node, to, env)) return true;
        break;
      case c10::prim::Loop:
      case c10::prim::SetAttr:
        return false;
      default:
        if (!node.blocks().empty() || WritesContainer(&node)) return false;
    }
    jit::Node* copy = CopyNodeBefore(node, to->return_node(), env);
    if (auto constants = FoldScalarNode(graph_, copy)) {
      for (size_t i = 0; i < constants->size(); ++i) {
        env[node.output(i)] = (*constants)[i];
      }
      copy->destroy();
    } else {
      result_->source_position[copy] = position_;
      if (node.kind() == c10::prim::GetAttr) TrackObject(node, copy);
    }
    ++position_;
    return true;
  }

  // A call: the callee's code, its inputs bound to the call's arguments.
  // The call node itself has no position (inlining removes it).
  bool EmitCall(const jit::Node& node, const jit::Graph& callee, jit::Block* to,
                ValueMap& env) {
    auto args = node.inputs();
    // A function call's first input is the function itself.
    if (node.kind() == c10::prim::CallFunction) args = args.slice(1);
    if (args.size() != callee.inputs().size() ||
        node.outputs().size() != callee.outputs().size()) {
      throw std::runtime_error(
          absl::StrCat("inlining: a call with ", args.size(), " arguments and ",
                       node.outputs().size(), " results of code with ",
                       callee.inputs().size(), " inputs and ",
                       callee.outputs().size(), " outputs"));
    }
    ValueMap inner;
    for (size_t i = 0; i < args.size(); ++i) {
      inner[callee.inputs()[i]] = MappedValue(env, args[i]);
    }
    if (!EmitBlock(*callee.block(), to, inner)) return false;
    for (size_t i = 0; i < node.outputs().size(); ++i) {
      env[node.output(i)] = MappedValue(inner, callee.outputs()[i]);
    }
    return true;
  }

  // A branch this instance never takes is counted, not copied; the taken
  // one is copied in place of the prim::If.
  bool EmitIf(const jit::Node& node, jit::Block* to, ValueMap& env) {
    const size_t position = position_++;
    const jit::Block& then_block = *node.blocks()[0];
    const jit::Block& else_block = *node.blocks()[1];
    std::optional<bool> taken;
    if (BlockRaises(then_block)) {
      taken = false;
    } else if (BlockRaises(else_block)) {
      taken = true;
    } else if (auto c = jit::toIValue(MappedValue(env, node.input(0)))) {
      taken = c->toBool();
    }
    if (taken.has_value()) {
      if (!*taken) position_ += InlinedCount(then_block);
      const jit::Block& branch = *taken ? then_block : else_block;
      if (!EmitBlock(branch, to, env)) return false;
      if (*taken) position_ += InlinedCount(else_block);
      for (size_t i = 0; i < node.outputs().size(); ++i) {
        env[node.output(i)] = MappedValue(env, branch.outputs()[i]);
      }
      return true;
    }
    jit::Node* copy = graph_.create(c10::prim::If, 0);
    copy->setSourceRange(node.sourceRange());
    copy->addInput(MappedValue(env, node.input(0)));
    for (const jit::Value* out : node.outputs()) {
      env[out] = copy->addOutput()->setType(out->type());
    }
    copy->insertBefore(to->return_node());
    result_->source_position[copy] = position;
    for (const jit::Block* sub : node.blocks()) {
      jit::Block* sub_copy = copy->addBlock();
      if (!EmitBlock(*sub, sub_copy, env)) return false;
      for (const jit::Value* out : sub->outputs()) {
        sub_copy->registerOutput(MappedValue(env, out));
      }
    }
    return true;
  }

  // A read of a module attribute that is neither a tensor nor an object
  // becomes a constant (`training` false). False when the attribute stays
  // a read.
  bool EmitAttrConstant(const jit::Node& node, jit::Block* to, ValueMap& env) {
    auto owner = objects_.find(MappedValue(env, node.input()));
    if (owner == objects_.end()) return false;
    jit::WithInsertPoint guard(to->return_node());
    jit::Value* constant = InsertAttrConstant(graph_, *owner->second, node);
    if (constant == nullptr) return false;
    env[node.output()] = constant;
    ++position_;
    return true;
  }

  // Remembers the object a copied attribute read yields, for the reads
  // and calls made through it.
  void TrackObject(const jit::Node& node, jit::Node* copy) {
    auto owner = objects_.find(copy->input());
    if (owner == objects_.end()) return;
    const std::string& name = node.s(c10::attr::name);
    if (!owner->second->type()->hasAttribute(name)) return;
    c10::IValue value = owner->second->getAttr(name);
    if (value.isObject()) objects_[copy->output()] = value.toObject();
  }

  // Nodes `block` has once every call in it is inlined (what inlining
  // replaces a call by: the callee's nodes, not the call).
  size_t InlinedCount(const jit::Block& block) {
    auto it = counts_.find(&block);
    if (it != counts_.end()) return it->second;
    size_t count = 0;
    for (const jit::Node* node : block.nodes()) {
      if (jit::GraphFunction* callee = CalleeOf(node)) {
        count += InlinedCount(*callee->graph()->block());
        continue;
      }
      ++count;
      for (const jit::Block* sub : node->blocks()) count += InlinedCount(*sub);
    }
    counts_[&block] = count;
    return count;
  }

  std::unique_ptr<SpecializedForward> result_;
  jit::Graph& graph_;
  c10::intrusive_ptr<c10::ivalue::Object> module_;
  // Values of graph_ known to hold a module (or other object) instance.
  std::unordered_map<const jit::Value*, c10::intrusive_ptr<c10::ivalue::Object>>
      objects_;
  std::unordered_map<const jit::Block*, size_t> counts_;
  // Position in the unspecialised inlined graph of the next source node.
  size_t position_ = 0;
};

}  // namespace

std::unique_ptr<SpecializedForward> InlineSpecialized(
    const jit::Module& module, jit::GraphFunction& forward) {
  return Walk(module).Run(*forward.graph());
}

}  // namespace pruneserve::pruning::internal
