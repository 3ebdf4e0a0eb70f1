#include "core/pruning/inlined_forward.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/loop_unrolling.h>
#include <torch/csrc/jit/passes/lower_tuples.h>
#include <torch/csrc/jit/passes/remove_mutation.h>

#include <stdexcept>
#include <string>
#include <unordered_set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/pruning/constant_folding.h"
#include "core/pruning/specializing_inliner.h"
#include "core/util/torch_status.h"

namespace pruneserve::pruning::internal {

namespace jit = torch::jit;

ScopedEvalMode::ScopedEvalMode(jit::Module module) {
  for (const auto& m : module.modules()) {
    saved_.emplace_back(m, m.is_training());
  }
  module.eval();
}

ScopedEvalMode::~ScopedEvalMode() {
  for (auto& [m, training] : saved_) {
    // train() recurses; setting each module's own flag restores mixed modes.
    // Modules built without a `training` attribute have nothing to restore
    // (and setAttr would throw from a destructor).
    if (m._ivalue()->type()->hasAttribute("training")) {
      m._ivalue()->setAttr("training", training);
    }
  }
}

absl::StatusOr<std::vector<torch::Tensor>> GraphTap::Run(
    const torch::Tensor& input) {
  try {
    ScopedEvalMode eval(module_);
    jit::Stack stack{module_._ivalue(), input};
    jit::InterpreterState(code_).run(stack);
    std::vector<torch::Tensor> out;
    for (const auto& v : stack.back().toTupleRef().elements()) {
      out.push_back(v.toTensor());
    }
    return out;
  } catch (const std::exception& e) {
    return TorchErrorToStatus(
        e, absl::StrCat("running forward on input ", c10::str(input.sizes())));
  }
}

bool IsTensorValue(const jit::Value* v) {
  return v->type()->kind() == c10::TypeKind::TensorType;
}

std::pair<std::string, std::string> SplitOwner(const std::string& path) {
  auto pos = path.rfind('.');
  if (pos == std::string::npos) return {"", path};
  return {path.substr(0, pos), path.substr(pos + 1)};
}

absl::StatusOr<jit::IValue> AttrAtPath(const jit::Module& module,
                                       const std::string& path) {
  jit::IValue cur = module._ivalue();
  if (path.empty()) return cur;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (!cur.isObject()) {
      return absl::NotFoundError(absl::StrCat("no attribute path ", path));
    }
    const auto& obj = cur.toObjectRef();
    std::string name(part);
    if (!obj.type()->hasAttribute(name)) {
      return absl::NotFoundError(absl::StrCat("no attribute ", path));
    }
    cur = obj.getAttr(name);
  }
  return cur;
}

namespace {

// Copies the nodes of `from` (with their blocks) before `before`, mapping
// inputs through `map` and adding the copies' outputs to it.
void CopyNodes(const jit::Block* from, jit::Node* before, ValueMap& map) {
  for (const jit::Node* node : from->nodes()) {
    jit::Node* copy = CopyNodeBefore(*node, before, map);
    for (const jit::Block* sub : node->blocks()) {
      jit::Block* sub_copy = copy->addBlock();
      for (const jit::Value* in : sub->inputs()) {
        map[in] = sub_copy->addInput()->setType(in->type());
      }
      CopyNodes(sub, sub_copy->return_node(), map);
      for (const jit::Value* out : sub->outputs()) {
        sub_copy->registerOutput(MappedValue(map, out));
      }
    }
  }
}

// Inserts the body of `callee` before `at`, its inputs bound to `inputs`;
// returns the values of its outputs.
std::vector<jit::Value*> InsertBody(const jit::Graph& callee,
                                    at::ArrayRef<jit::Value*> inputs,
                                    jit::Node* at) {
  if (inputs.size() != callee.inputs().size()) {
    throw std::runtime_error(absl::StrCat("inlining: ", inputs.size(),
                                          " arguments for ",
                                          callee.inputs().size(), " inputs"));
  }
  ValueMap map;
  for (size_t i = 0; i < inputs.size(); ++i) {
    map[callee.inputs()[i]] = inputs[i];
  }
  CopyNodes(callee.block(), at, map);
  std::vector<jit::Value*> outputs;
  for (const jit::Value* out : callee.outputs()) {
    outputs.push_back(MappedValue(map, out));
  }
  return outputs;
}

// Replaces each method or function call in `block` (and its nested blocks)
// with the callee's graph as written, in one pass: scanning resumes at the
// first inserted node, so calls inside the inserted code are inlined too.
// Unlike jit::inlineCallTo, it records no inlined call stacks (nothing here
// reads them, and building them is most of the cost of inlining), and
// unlike jit::Inline it never computes a callee's optimised graph.
void InlineCalls(jit::Block* block) {
  jit::Node* node = block->nodes().front();
  while (node != block->return_node()) {
    jit::GraphFunction* graph_fn = CalleeOf(node);
    if (graph_fn == nullptr) {
      for (jit::Block* sub : node->blocks()) InlineCalls(sub);
      node = node->next();
      continue;
    }
    // A function call's first input is the function itself.
    auto inputs = node->inputs();
    if (node->kind() == c10::prim::CallFunction) inputs = inputs.slice(1);
    jit::Node* before = node->prev();
    std::vector<jit::Value*> outputs =
        InsertBody(*graph_fn->graph(), inputs, node);
    if (outputs.size() != node->outputs().size()) {
      throw std::runtime_error(absl::StrCat(
          "inlining ", graph_fn->qualname().qualifiedName(), ": ",
          outputs.size(), " outputs for a call with ", node->outputs().size()));
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      node->output(i)->replaceAllUsesWith(outputs[i]);
    }
    node->destroy();
    node = before->next();
  }
}

// A copy of `module.forward`'s graph with every method and function call
// inlined, recursively, from the callees' graphs as written: jit::Inline
// would first compute (and cache) each callee's optimised graph, most of
// the cost of analysing a freshly loaded or cloned model; the
// specialisation runs its own passes. nullptr when there is no forward
// method; throws what TorchScript throws.
std::shared_ptr<jit::Graph> InlinedForwardGraph(const jit::Module& module) {
  auto method = module.find_method("forward");
  if (!method) return nullptr;
  auto graph = method->graph()->copy();
  InlineCalls(graph->block());
  return graph;
}

// Walks the code of a forward method as InlineCalls would inline it,
// without copying: positions count the nodes of the inlined graph in
// preorder, and the walk records where the wanted positions come from.
class OriginWalk {
 public:
  // `wanted`: position in the inlined graph -> index of the result.
  OriginWalk(std::unordered_map<size_t, size_t> wanted, size_t results)
      : wanted_(std::move(wanted)), results_(results) {}

  void Run(const c10::ClassTypePtr& root, jit::GraphFunction* forward) {
    methods_.push_back({root, forward});
    Frame frame;
    frame.self = "";
    frame.modules[forward->graph()->inputs()[0]] = "";
    Walk(forward->graph()->block(), frame);
  }
  // Nodes walked: the size of the inlined graph.
  size_t positions() const { return position_; }
  std::vector<std::optional<CodeOrigin>>& results() { return results_; }

 private:
  // One method or function being walked: module paths of its values.
  struct Frame {
    std::optional<std::string> self;
    std::unordered_map<const jit::Value*, std::string> modules;
  };

  static std::optional<std::string> PathOf(const Frame& frame,
                                           const jit::Value* v) {
    auto it = frame.modules.find(v);
    if (it == frame.modules.end()) return std::nullopt;
    return it->second;
  }

  void Walk(jit::Block* block, Frame& frame) {
    for (jit::Node* node : block->nodes()) {
      c10::ClassTypePtr owner;
      if (jit::GraphFunction* callee = CalleeOf(node, &owner)) {
        const jit::Graph& graph = *callee->graph();
        Frame inner;
        if (owner != nullptr) {
          methods_.push_back({owner, callee});
          inner.self = PathOf(frame, node->input(0));
          if (inner.self) inner.modules[graph.inputs()[0]] = *inner.self;
        } else {
          ++functions_;
        }
        Walk(callee->graph()->block(), inner);
        if (owner != nullptr) {
          methods_.pop_back();
        } else {
          --functions_;
        }
        continue;
      }
      if (node->kind() == c10::prim::GetAttr &&
          node->output()->type()->kind() == c10::TypeKind::ClassType) {
        if (auto owner_path = PathOf(frame, node->input())) {
          const std::string& name = node->s(c10::attr::name);
          frame.modules[node->output()] =
              owner_path->empty() ? name : absl::StrCat(*owner_path, ".", name);
        }
      }
      if (auto it = wanted_.find(position_); it != wanted_.end()) {
        CodeOrigin& origin = results_[it->second].emplace();
        origin.node = node;
        origin.methods = methods_;
        origin.through_function = functions_ > 0;
        origin.instance = frame.self;
      }
      ++position_;
      for (jit::Block* sub : node->blocks()) Walk(sub, frame);
    }
  }

  std::unordered_map<size_t, size_t> wanted_;
  std::vector<std::optional<CodeOrigin>> results_;
  std::vector<std::pair<c10::ClassTypePtr, jit::GraphFunction*>> methods_;
  int functions_ = 0;
  size_t position_ = 0;
};

// Nodes of `block` and its nested blocks in preorder.
void Preorder(jit::Block* block, std::vector<jit::Node*>& out) {
  for (jit::Node* n : block->nodes()) {
    out.push_back(n);
    for (jit::Block* sub : n->blocks()) Preorder(sub, out);
  }
}

// Makes the condition of every prim::If with a branch ending in
// prim::RaiseException a constant that selects the other branch; constant
// propagation then drops the raising code. (jit::EliminateExceptions does
// the same, plus a whole-graph constant propagation and pooling of its own.)
void DropRaisingBranches(const std::vector<jit::Node*>& nodes) {
  for (jit::Node* n : nodes) {
    if (n->kind() != c10::prim::If) continue;
    const bool then_raises = BlockRaises(*n->blocks()[0]);
    if (!then_raises && !BlockRaises(*n->blocks()[1])) continue;
    jit::WithInsertPoint guard(n);
    // Only this If's input: the condition may have other uses.
    n->replaceInput(0, n->owningGraph()->insertConstant(!then_raises));
  }
}

// Removes every prim::unchecked_cast whose input already has the target type
// (what scripting leaves after an isinstance() refinement that constant
// propagation settled), so list and tensor values keep one identity.
// `nodes` must be alive; the casts among them are destroyed.
void DropNoOpCasts(const std::vector<jit::Node*>& nodes) {
  for (jit::Node* n : nodes) {
    if (n->kind() == c10::prim::unchecked_cast &&
        n->input()->type()->isSubtypeOf(*n->output()->type())) {
      n->output()->replaceAllUsesWith(n->input());
      n->destroy();
    }
  }
}

}  // namespace

InlinedForward::InlinedForward(jit::Module module,
                               std::shared_ptr<jit::Graph> graph)
    : module_(std::move(module)), graph_(std::move(graph)) {}

absl::StatusOr<std::unique_ptr<InlinedForward>> InlinedForward::Create(
    const jit::Module& module) {
  auto method = module.find_method("forward");
  jit::GraphFunction* forward =
      method ? jit::tryToGraphFunction(method->function()) : nullptr;
  if (forward == nullptr) {
    return absl::FailedPreconditionError("module has no forward method");
  }
  const auto inputs = forward->graph()->inputs();
  if (inputs.size() != 2 || !IsTensorValue(inputs[1])) {
    return absl::FailedPreconditionError(
        "forward must take exactly one Tensor argument");
  }
  std::unique_ptr<InlinedForward> f;
  bool inlined_specialized = false;
  try {
    if (auto fast = InlineSpecialized(module, *forward)) {
      f.reset(new InlinedForward(module, std::move(fast->graph)));
      f->source_position_ = std::move(fast->source_position);
      f->source_count_ = fast->source_count;
      inlined_specialized = true;
    }
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "inlining forward",
                              absl::StatusCode::kFailedPrecondition);
  }
  if (f == nullptr) {
    std::shared_ptr<jit::Graph> graph;
    try {
      graph = InlinedForwardGraph(module);
    } catch (const std::exception& e) {
      return TorchErrorToStatus(e, "inlining forward",
                                absl::StatusCode::kFailedPrecondition);
    }
    f.reset(new InlinedForward(module, std::move(graph)));
  }
  try {
    f->Specialize(inlined_specialized);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "specialising forward",
                              absl::StatusCode::kFailedPrecondition);
  }
  return f;
}

const std::shared_ptr<jit::Graph>& InlinedForward::SourceGraph() {
  if (source_graph_ != nullptr) return source_graph_;
  auto graph = InlinedForwardGraph(module_);
  if (graph == nullptr) throw std::runtime_error("forward method is gone");
  std::vector<jit::Node*> nodes;
  Preorder(graph->block(), nodes);
  if (nodes.size() != source_count_) {
    throw std::runtime_error(
        "forward changed since the analysis: inlining it again gave " +
        std::to_string(nodes.size()) + " nodes, not " +
        std::to_string(source_count_));
  }
  source_graph_ = std::move(graph);
  source_nodes_ = std::move(nodes);
  // Values of both graphs are distinct, so one map serves both.
  attr_path_[source_graph_->inputs()[0]] = "";
  ResolveAttrs(source_graph_->block());
  return source_graph_;
}

std::vector<std::optional<CodeOrigin>> InlinedForward::Origins(
    const std::vector<const jit::Node*>& nodes) const {
  std::unordered_map<size_t, size_t> wanted;
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto it = source_position_.find(nodes[i]);
    if (it != source_position_.end()) wanted[it->second] = i;
  }
  OriginWalk walk(std::move(wanted), nodes.size());
  auto method = module_.find_method("forward");
  jit::GraphFunction* forward =
      method ? jit::tryToGraphFunction(method->function()) : nullptr;
  if (forward == nullptr) throw std::runtime_error("forward method is gone");
  walk.Run(module_.type(), forward);
  if (walk.positions() != source_count_) {
    throw std::runtime_error(
        absl::StrCat("forward changed since the analysis: its code has ",
                     walk.positions(), " nodes inlined, not ", source_count_));
  }
  return std::move(walk.results());
}

jit::Node* InlinedForward::SourceNode(const jit::Node* node) {
  auto it = source_position_.find(node);
  if (it == source_position_.end()) return nullptr;
  SourceGraph();
  return source_nodes_[it->second];
}

void InlinedForward::SubstituteAttrs(jit::Block* block) {
  for (auto it = block->nodes().begin(); it != block->nodes().end(); ++it) {
    jit::Node* node = *it;
    for (jit::Block* sub : node->blocks()) SubstituteAttrs(sub);
    if (node->kind() != c10::prim::GetAttr) continue;
    const std::string* path = AttrPath(node->output());
    if (path == nullptr || written_.count(*path)) continue;
    auto owner = AttrAtPath(module_, *AttrPath(node->input()));
    if (!owner.ok() || !owner->isObject()) continue;
    jit::WithInsertPoint guard(node);
    jit::Value* constant =
        InsertAttrConstant(*graph_, owner->toObjectRef(), *node);
    if (constant != nullptr) node->output()->replaceAllUsesWith(constant);
  }
}

void InlinedForward::Specialize(bool inlined_specialized) {
  if (!inlined_specialized) {
    // graph_ is still the plain inlined graph: number its nodes, whose
    // identities survive the passes below.
    std::vector<jit::Node*> nodes;
    Preorder(graph_->block(), nodes);
    source_count_ = nodes.size();
    for (size_t i = 0; i < nodes.size(); ++i) source_position_[nodes[i]] = i;
    attr_path_[graph_->inputs()[0]] = "";
    ResolveAttrs(graph_->block());
    // Attributes the program writes stay attributes.
    for (const jit::Node* n : nodes) {
      if (n->kind() != c10::prim::SetAttr) continue;
      if (const std::string* owner = AttrPath(n->inputs()[0])) {
        const std::string& name = n->s(c10::attr::name);
        written_.insert(owner->empty() ? name
                                       : absl::StrCat(*owner, ".", name));
      }
    }
    SubstituteAttrs(graph_->block());
    DropRaisingBranches(nodes);
  }
  // Scalar code and branches on attributes fold without alias analysis
  // (constant_folding.h); that leaves most CNNs straight-line code.
  FoldConstants(*graph_);
  std::vector<jit::Node*> nodes;
  Preorder(graph_->block(), nodes);
  DropNoOpCasts(nodes);
  // (The specialising inliner declines code with loops or list writes.)
  if (!inlined_specialized && NeedsGenericPasses(graph_->block())) {
    // Loops and lists the program appends to (DenseNet's features).
    jit::RemoveListMutation(graph_);
    jit::UnrollConstantLoops(graph_);
    jit::ConstantPropagation(graph_);
    // A trip count such as len(a list) may only be known now that the
    // list is a constant: unroll what became constant.
    if (AnyNode(graph_->block(), [](const jit::Node* n) {
          return n->kind() == c10::prim::Loop;
        })) {
      jit::UnrollConstantLoops(graph_);
      jit::ConstantPropagation(graph_);
    }
  }
  // (The graph form would also build an alias database for its DCE.)
  jit::LowerSimpleTuples(graph_->block());
  // The block form builds no alias database (the graph form does, at a cost
  // that dominates this pass); without one, nodes that mutate stay, which
  // keeps every in-place op of a forward pass.
  jit::EliminateDeadCode(graph_->block());
  // Forget erased nodes (their addresses may be reused).
  nodes.clear();
  Preorder(graph_->block(), nodes);
  const std::unordered_set<const jit::Node*> alive(nodes.begin(), nodes.end());
  for (auto it = source_position_.begin(); it != source_position_.end();) {
    it = alive.count(it->first) ? std::next(it) : source_position_.erase(it);
  }
  attr_path_.clear();
  attr_path_[graph_->inputs()[0]] = "";
  ResolveAttrs(graph_->block());
}

void InlinedForward::ResolveAttrs(jit::Block* block) {
  for (jit::Node* node : block->nodes()) {
    if (node->kind() == c10::prim::GetAttr) {
      auto it = attr_path_.find(node->input());
      if (it != attr_path_.end()) {
        const std::string& name = node->s(c10::attr::name);
        attr_path_[node->output()] =
            it->second.empty() ? name : absl::StrCat(it->second, ".", name);
      }
    }
    for (jit::Block* sub : node->blocks()) ResolveAttrs(sub);
  }
}

const std::string* InlinedForward::AttrPath(const jit::Value* v) const {
  auto it = attr_path_.find(v);
  return it == attr_path_.end() ? nullptr : &it->second;
}

std::optional<torch::Tensor> InlinedForward::TensorAttr(
    const jit::Value* v) const {
  const std::string* path = AttrPath(v);
  if (path == nullptr) return std::nullopt;
  auto value = AttrAtPath(module_, *path);
  if (!value.ok() || !value->isTensor()) return std::nullopt;
  return value->toTensor();
}

std::optional<int64_t> InlinedForward::IntValue(const jit::Value* v) const {
  if (auto c = jit::toIValue(v); c && c->isInt()) return c->toInt();
  const std::string* path = AttrPath(v);
  if (path == nullptr) return std::nullopt;
  auto value = AttrAtPath(module_, *path);
  if (!value.ok() || !value->isInt()) return std::nullopt;
  return value->toInt();
}

absl::StatusOr<std::unique_ptr<GraphTap>> InlinedForward::Tap(
    const std::vector<jit::Value*>& taps) const {
  jit::Graph& graph = *graph_;
  for (jit::Value* v : taps) {
    const bool top_level = v->node()->owningBlock() == graph.block() ||
                           v->node() == graph.param_node();
    if (!top_level || v->owningGraph() != &graph || !IsTensorValue(v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot tap value %", v->debugName()));
    }
  }
  // jit::Code compiles a copy of the graph it is given, so the tapped
  // program is built on graph_ itself: a tuple of the taps becomes its only
  // output for the duration of the compilation, then graph_ is restored.
  std::vector<jit::Value*> outputs(graph.outputs().begin(),
                                   graph.outputs().end());
  jit::Node* tuple = graph.appendNode(graph.createTuple(taps));
  while (!graph.outputs().empty()) graph.eraseOutput(0);
  graph.registerOutput(tuple->output());
  auto restore = [&] {
    graph.eraseOutput(0);
    for (jit::Value* v : outputs) graph.registerOutput(v);
    tuple->destroy();
  };
  try {
    jit::Code code(graph_, "pruneserve_tap");
    restore();
    return std::unique_ptr<GraphTap>(new GraphTap(module_, std::move(code)));
  } catch (const std::exception& e) {
    restore();
    return TorchErrorToStatus(e, "building tapped graph",
                              absl::StatusCode::kInternal);
  }
}

absl::StatusOr<std::unordered_map<const jit::Value*, std::vector<int64_t>>>
InlinedForward::RecordShapes(const std::vector<int64_t>& input_shape) const {
  torch::Tensor input;
  try {
    input = torch::zeros(input_shape);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "creating the example input");
  }
  return RecordShapes(input);
}

absl::StatusOr<std::unordered_map<const jit::Value*, std::vector<int64_t>>>
InlinedForward::RecordShapes(const torch::Tensor& input) const {
  std::vector<jit::Value*> values;
  for (jit::Node* node : graph_->nodes()) {
    for (jit::Value* out : node->outputs()) {
      if (IsTensorValue(out)) values.push_back(out);
    }
  }
  auto tap = Tap(values);
  if (!tap.ok()) return tap.status();
  auto tensors = (*tap)->Run(input);
  if (!tensors.ok()) return tensors.status();
  std::unordered_map<const jit::Value*, std::vector<int64_t>> shapes;
  for (size_t i = 0; i < values.size(); ++i) {
    shapes[values[i]] = (*tensors)[i].sizes().vec();
  }
  // The input is a value of the graph too.
  shapes[graph_->inputs()[1]] = input.sizes().vec();
  return shapes;
}

}  // namespace pruneserve::pruning::internal
