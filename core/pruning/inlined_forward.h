// The inlined forward graph of a TorchScript module, the shared substrate of
// channel analysis, FLOPs counting and sparsity probing. It resolves which
// graph values are parameters, buffers or submodules (prim::GetAttr chains
// from `self`) and can run the graph once with arbitrary intermediate values
// ("taps") returned, which is how shapes and activations are observed without
// hooks. Internal to core/pruning.
//
// Scripted models branch on module attributes (`if self.use_res_connect`,
// `if self.training`), loop over module lists and carry `raise` paths. The
// graph analysed here is therefore a specialised copy of the inlined graph:
// every module attribute that is not a tensor or a submodule is substituted
// as a constant (`training` as false), branches that raise are dropped, and
// constant folding (constant_folding.h; the generic passes only for loops
// and list mutation) and dead-code elimination leave the straight-line
// program this instance actually runs in eval mode. The specialising
// inliner (specializing_inliner.h) builds that program in one walk, copying
// only live code; what it declines takes the general path here, which
// inlines everything, then specialises. Each surviving node
// remembers its position in the unspecialised inlined graph. A surgery that
// must rewrite a constant finds, by that position, the method code it came
// from (Origins(), which copies no graph) and edits it there; when that is
// not exact it falls back to SourceGraph(), the inlined graph rebuilt on
// demand (inlining is deterministic), which still honours train() and the
// attributes. Analyses that rewrite nothing pay for neither.
#ifndef PRUNESERVE_CORE_PRUNING_INLINED_FORWARD_H_
#define PRUNESERVE_CORE_PRUNING_INLINED_FORWARD_H_

#include <torch/csrc/jit/runtime/interpreter.h>
#include <torch/script.h>

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"

namespace pruneserve::pruning::internal {

// Puts every submodule of a module in eval mode and disables autograd for the
// lifetime of the object, then restores each submodule's own training flag.
// Running a graph in eval mode keeps BatchNorm statistics untouched. Not
// thread-safe: the module must not be used concurrently.
class ScopedEvalMode {
 public:
  explicit ScopedEvalMode(torch::jit::Module module);
  ~ScopedEvalMode();
  ScopedEvalMode(const ScopedEvalMode&) = delete;
  ScopedEvalMode& operator=(const ScopedEvalMode&) = delete;

 private:
  std::vector<std::pair<torch::jit::Module, bool>> saved_;
  torch::NoGradGuard no_grad_;
};

// A compiled copy of the inlined graph that returns the values it was built
// with instead of the model output. Owns its graph; holds a handle to the
// module it runs on. Not thread-safe.
class GraphTap {
 public:
  // Returns the tapped tensors for `input`, in the order of the taps, or
  // InvalidArgument when the module rejects the input. Blocks while running.
  absl::StatusOr<std::vector<torch::Tensor>> Run(const torch::Tensor& input);

 private:
  friend class InlinedForward;
  GraphTap(torch::jit::Module module, torch::jit::Code code)
      : module_(std::move(module)), code_(std::move(code)) {}
  torch::jit::Module module_;
  torch::jit::Code code_;
};

// Where a node of the inlined forward came from: the graph of the method
// (or free function) that holds it, as written, and the chain of methods
// the program calls to reach it.
struct CodeOrigin {
  // A node of a method's or function's own graph.
  torch::jit::Node* node = nullptr;
  // The methods from the root's forward down to the one holding `node`,
  // with the class each belongs to.
  std::vector<std::pair<c10::ClassTypePtr, torch::jit::GraphFunction*>> methods;
  // True when a free function is on the way (it may hold `node`), whose
  // code every caller shares.
  bool through_function = false;
  // Dotted path of the module instance whose method holds `node` ("" for
  // the root), or nullopt when the code reaches it other than through
  // attributes of `self`.
  std::optional<std::string> instance;
};

// Owns an inlined copy of `module.forward`'s graph. The module handle is
// shared (TorchScript modules are reference types), so mutating the module
// through another handle is visible here. Not thread-safe.
class InlinedForward {
 public:
  // Returns FailedPrecondition when the module has no forward method or its
  // forward does not take exactly one tensor besides `self`.
  static absl::StatusOr<std::unique_ptr<InlinedForward>> Create(
      const torch::jit::Module& module);

  const torch::jit::Module& module() const { return module_; }
  // The specialised graph (see the file comment). Analysis, taps and FLOPs
  // counting use it.
  const std::shared_ptr<torch::jit::Graph>& graph() const { return graph_; }
  // Whether `node` (of graph()) has a counterpart in the unspecialised
  // graph: false when specialisation created it (e.g. an unrolled loop body).
  bool HasSource(const torch::jit::Node* node) const {
    return source_position_.count(node) > 0;
  }
  // The inlined graph before specialisation, what a forward rewrite installs;
  // inlined again on the first call (the module's forward must not have been
  // replaced since Create). Throws what inlining throws.
  const std::shared_ptr<torch::jit::Graph>& SourceGraph();
  // The node of SourceGraph() that `node` (of graph()) was copied from, or
  // nullptr when !HasSource(node). Builds the source graph when needed.
  torch::jit::Node* SourceNode(const torch::jit::Node* node);

  // The origin of each node (of graph()) in the methods' code, or nullopt
  // for a node without one (!HasSource), in the order given. Walks the
  // call tree once without copying any graph; the module's methods must
  // not have changed since Create. Throws what resolving a call throws.
  std::vector<std::optional<CodeOrigin>> Origins(
      const std::vector<const torch::jit::Node*>& nodes) const;

  // Dotted attribute path ("layer1.0.conv1.weight") of the value (of graph()
  // or SourceGraph()) when it is a prim::GetAttr chain from self, else
  // nullptr. Module values map to their submodule path ("" for self).
  const std::string* AttrPath(const torch::jit::Value* v) const;

  // The tensor a value reads when it is a parameter or buffer holding a
  // tensor; nullopt for anything else (including attributes set to None).
  std::optional<torch::Tensor> TensorAttr(const torch::jit::Value* v) const;

  // The int a value holds when it is a constant or an int attribute.
  std::optional<int64_t> IntValue(const torch::jit::Value* v) const;

  // Compiles a function returning `taps` (values of the top-level block of
  // graph(), all of Tensor type). Returns InvalidArgument for other values.
  // graph() gains a tuple output while it compiles and is restored after.
  absl::StatusOr<std::unique_ptr<GraphTap>> Tap(
      const std::vector<torch::jit::Value*>& taps) const;

  // Runs the graph once (eval mode) and returns the sizes of every tensor
  // value of the top-level block. Blocks.
  absl::StatusOr<
      std::unordered_map<const torch::jit::Value*, std::vector<int64_t>>>
  RecordShapes(const torch::Tensor& input) const;
  // The same on zeros of `input_shape`; InvalidArgument for a bad shape.
  absl::StatusOr<
      std::unordered_map<const torch::jit::Value*, std::vector<int64_t>>>
  RecordShapes(const std::vector<int64_t>& input_shape) const;

 private:
  InlinedForward(torch::jit::Module module,
                 std::shared_ptr<torch::jit::Graph> graph);
  void ResolveAttrs(torch::jit::Block* block);
  // Replaces reads of non-tensor, non-module attributes by constants.
  void SubstituteAttrs(torch::jit::Block* block);
  // Specialises graph_, the plain inlined graph, or finishes the work of
  // the specialising inliner (specializing_inliner.h) when
  // `inlined_specialized`: that leaves only the folding of lists and the
  // clean-up.
  void Specialize(bool inlined_specialized);

  torch::jit::Module module_;
  std::shared_ptr<torch::jit::Graph> graph_;
  std::unordered_map<const torch::jit::Value*, std::string> attr_path_;
  // Preorder position (nested blocks included) of each node of graph_ in
  // the inlined graph before specialisation.
  std::unordered_map<const torch::jit::Node*, size_t> source_position_;
  size_t source_count_ = 0;
  // Built by SourceGraph(): the graph, and its nodes in preorder.
  std::shared_ptr<torch::jit::Graph> source_graph_;
  std::vector<torch::jit::Node*> source_nodes_;
  // Attributes some prim::SetAttr writes (never substituted).
  std::unordered_set<std::string> written_;
};

// The attribute at dotted `path` below `module` (empty path: the module).
// Returns NotFound when a component is missing.
absl::StatusOr<torch::jit::IValue> AttrAtPath(const torch::jit::Module& module,
                                              const std::string& path);

// Splits "a.b.weight" into ("a.b", "weight"); ("", "weight") for top level.
std::pair<std::string, std::string> SplitOwner(const std::string& path);

// True for values of (plain or refined) Tensor type.
bool IsTensorValue(const torch::jit::Value* v);

}  // namespace pruneserve::pruning::internal

#endif  // PRUNESERVE_CORE_PRUNING_INLINED_FORWARD_H_
