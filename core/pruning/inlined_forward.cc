#include "core/pruning/inlined_forward.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/loop_unrolling.h>
#include <torch/csrc/jit/passes/lower_tuples.h>
#include <torch/csrc/jit/passes/remove_exceptions.h>
#include <torch/csrc/jit/passes/remove_mutation.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <functional>
#include <unordered_set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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
    // One-shot runs: the profiling executor's optimisation passes would
    // cost more than the run (thread-local switch).
    jit::GraphOptimizerEnabledGuard no_optimizer(false);
    jit::Stack stack{module_._ivalue(), input};
    fn_->run(stack);
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

// One pass over `block`: replaces each method or function call with the
// callee's graph. Returns whether anything was inlined (the inserted code
// may hold further calls).
bool InlineCallsOnce(jit::Block* block) {
  bool changed = false;
  for (auto it = block->nodes().begin(); it != block->nodes().end();) {
    jit::Node* node = *it++;
    for (jit::Block* sub : node->blocks()) {
      changed = InlineCallsOnce(sub) || changed;
    }
    jit::Function* fn = nullptr;
    if (node->kind() == c10::prim::CallMethod) {
      if (auto cls = node->input(0)->type()->cast<c10::ClassType>()) {
        fn = &cls->getMethod(node->s(c10::attr::name));
      }
    } else if (node->kind() == c10::prim::CallFunction) {
      if (auto f = node->input(0)->type()->cast<c10::FunctionType>()) {
        fn = f->function();
      }
    }
    jit::GraphFunction* graph_fn =
        fn == nullptr ? nullptr : jit::tryToGraphFunction(*fn);
    if (graph_fn == nullptr) continue;
    // A function call's first input is the function itself.
    if (node->kind() == c10::prim::CallFunction) node->removeInput(0);
    jit::inlineCallTo(node, graph_fn, /*use_graph=*/true);
    changed = true;
  }
  return changed;
}

}  // namespace

void InlineCalls(jit::Graph& graph) {
  // jit::Inline inlines each callee's optimised graph, which it first
  // computes (and caches) per function: most of the cost of analysing a
  // freshly loaded or cloned model. The plain graphs are enough here; the
  // specialisation runs its own passes.
  while (InlineCallsOnce(graph.block())) {
  }
}

InlinedForward::InlinedForward(jit::Module module,
                               std::shared_ptr<jit::Graph> source)
    : module_(std::move(module)), source_graph_(std::move(source)) {}

absl::StatusOr<std::unique_ptr<InlinedForward>> InlinedForward::Create(
    const jit::Module& module) {
  std::shared_ptr<jit::Graph> graph;
  try {
    auto method = module.find_method("forward");
    if (!method) {
      return absl::FailedPreconditionError("module has no forward method");
    }
    graph = method->graph()->copy();
    InlineCalls(*graph);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "inlining forward",
                              absl::StatusCode::kFailedPrecondition);
  }
  if (graph->inputs().size() != 2 || !IsTensorValue(graph->inputs()[1])) {
    return absl::FailedPreconditionError(
        "forward must take exactly one Tensor argument");
  }
  std::unique_ptr<InlinedForward> f(new InlinedForward(module, graph));
  try {
    f->Specialize();
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "specialising forward",
                              absl::StatusCode::kFailedPrecondition);
  }
  return f;
}

void InlinedForward::MapNodes(jit::Block* copy, jit::Block* source) {
  auto c = copy->nodes().begin();
  auto s = source->nodes().begin();
  for (; c != copy->nodes().end() && s != source->nodes().end(); ++c, ++s) {
    source_node_[*c] = *s;
    for (size_t b = 0; b < c->blocks().size() && b < s->blocks().size(); ++b) {
      MapNodes(c->blocks()[b], s->blocks()[b]);
    }
  }
}

void InlinedForward::SubstituteAttrs(jit::Block* block) {
  for (auto it = block->nodes().begin(); it != block->nodes().end(); ++it) {
    jit::Node* node = *it;
    for (jit::Block* sub : node->blocks()) SubstituteAttrs(sub);
    if (node->kind() != c10::prim::GetAttr) continue;
    const std::string* path = AttrPath(node->output());
    if (path == nullptr) continue;
    auto type = node->output()->type();
    if (type->kind() == c10::TypeKind::TensorType ||
        type->kind() == c10::TypeKind::ClassType) {
      continue;
    }
    if (written_.count(*path)) continue;
    auto value = AttrAtPath(module_, *path);
    if (!value.ok() || value->isTensor() || value->isObject()) continue;
    c10::IValue constant = *value;
    if (node->s(c10::attr::name) == "training") constant = false;
    jit::WithInsertPoint guard(node);
    auto replacement = jit::tryInsertConstant(*graph_, constant);
    if (!replacement) continue;
    (*replacement)->setType(node->output()->type());
    node->output()->replaceAllUsesWith(*replacement);
  }
}

void InlinedForward::Specialize() {
  graph_ = source_graph_->copy();
  MapNodes(graph_->block(), source_graph_->block());
  attr_path_[graph_->inputs()[0]] = "";
  ResolveAttrs(graph_->block());
  // Attributes the program writes stay attributes.
  std::function<void(jit::Block*)> find_writes = [&](jit::Block* b) {
    for (jit::Node* n : b->nodes()) {
      if (n->kind() == c10::prim::SetAttr) {
        if (const std::string* owner = AttrPath(n->inputs()[0])) {
          const std::string& name = n->s(c10::attr::name);
          written_.insert(owner->empty() ? name
                                         : absl::StrCat(*owner, ".", name));
        }
      }
      for (jit::Block* sub : n->blocks()) find_writes(sub);
    }
  };
  find_writes(graph_->block());
  SubstituteAttrs(graph_->block());
  jit::EliminateExceptions(graph_);
  jit::ConstantPropagation(graph_);
  jit::RemoveListMutation(graph_);
  jit::UnrollConstantLoops(graph_);
  jit::ConstantPropagation(graph_);
  jit::LowerSimpleTuples(graph_);
  jit::EliminateDeadCode(graph_);
  // Node identities survive the passes; drop entries of erased nodes by
  // rebuilding the attribute map and pruning the source map.
  std::unordered_set<const jit::Node*> alive;
  std::function<void(jit::Block*)> collect = [&](jit::Block* b) {
    for (jit::Node* n : b->nodes()) {
      alive.insert(n);
      for (jit::Block* sub : n->blocks()) collect(sub);
    }
  };
  collect(graph_->block());
  for (auto it = source_node_.begin(); it != source_node_.end();) {
    it = alive.count(it->first) ? std::next(it) : source_node_.erase(it);
  }
  attr_path_.clear();
  attr_path_[graph_->inputs()[0]] = "";
  ResolveAttrs(graph_->block());
  // Values of both graphs are distinct, so one map serves both.
  attr_path_[source_graph_->inputs()[0]] = "";
  ResolveAttrs(source_graph_->block());
}

jit::Node* InlinedForward::SourceNode(const jit::Node* node) const {
  auto it = source_node_.find(node);
  return it == source_node_.end() ? nullptr : it->second;
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
  // Copy the graph and map the tapped values by their position in the
  // top-level block; copy() preserves node and output order.
  std::unordered_map<const jit::Value*, size_t> position;
  std::vector<jit::Value*> originals;
  for (jit::Value* in : graph_->inputs()) {
    position[in] = originals.size();
    originals.push_back(in);
  }
  for (jit::Node* node : graph_->nodes()) {
    for (jit::Value* out : node->outputs()) {
      position[out] = originals.size();
      originals.push_back(out);
    }
  }
  auto copy = graph_->copy();
  std::vector<jit::Value*> copies;
  for (jit::Value* in : copy->inputs()) copies.push_back(in);
  for (jit::Node* node : copy->nodes()) {
    for (jit::Value* out : node->outputs()) copies.push_back(out);
  }
  if (copies.size() != originals.size()) {
    return absl::InternalError("graph copy changed the value count");
  }
  std::vector<jit::Value*> outputs;
  for (jit::Value* v : taps) {
    auto it = position.find(v);
    if (it == position.end() || !IsTensorValue(v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot tap value %", v->debugName()));
    }
    outputs.push_back(copies[it->second]);
  }
  try {
    jit::Node* tuple = copy->createTuple(outputs);
    copy->appendNode(tuple);
    while (!copy->outputs().empty()) copy->eraseOutput(0);
    copy->registerOutput(tuple->output());
    auto fn =
        std::make_unique<jit::GraphFunction>("pruneserve_tap", copy, nullptr);
    return std::unique_ptr<GraphTap>(new GraphTap(module_, std::move(fn)));
  } catch (const std::exception& e) {
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
