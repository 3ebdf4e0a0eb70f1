// Inlining and specialisation of a module's forward in one walk, the fast
// path of InlinedForward (inlined_forward.h). The general path copies every
// callee's code into one graph, then substitutes attributes, folds the
// branches that became constant and deletes the dead code: on MobileNetV2
// most of what it copied (padding modes, training-only BatchNorm code,
// raise paths) was destroyed again, and copying and destroying were a third
// of the engine's time. This walk follows the call tree of one module
// instance and copies only what that instance runs in eval mode: module
// attributes that are not tensors or submodules become constants as they
// are read (`training` as false), scalar code folds as it is copied, and of
// a prim::If only the branch taken is copied when the condition is known,
// or the branch that does not raise when the other one raises. The result is the same program the
// general path gives, with each node numbered by its position in the
// unspecialised inlined graph (which the walk counts, dead code included,
// without copying it).
//
// What the walk does not handle it declines, and the caller takes the
// general path: a loop or a list or dict write in the code it would copy
// (unrolling them needs the generic passes), a prim::SetAttr (an attribute
// the program writes must not become a constant), and nodes with blocks
// other than prim::If. Internal to core/pruning.
#ifndef PRUNESERVE_CORE_PRUNING_SPECIALIZING_INLINER_H_
#define PRUNESERVE_CORE_PRUNING_SPECIALIZING_INLINER_H_

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/script.h>

#include <memory>
#include <unordered_map>

namespace pruneserve::pruning::internal {

// The graph function `node` calls (prim::CallMethod or prim::CallFunction),
// with the class of a method in `owner`; nullptr for other nodes and for
// calls of functions without a graph. Throws when a method is missing.
torch::jit::GraphFunction* CalleeOf(const torch::jit::Node* node,
                                    c10::ClassTypePtr* owner = nullptr);

// Values of a graph being copied to the values that stand for them in the
// graph being built.
using ValueMap =
    std::unordered_map<const torch::jit::Value*, torch::jit::Value*>;

// The value `v` maps to; throws when it has none (a value used outside its
// scope).
torch::jit::Value* MappedValue(const ValueMap& map, const torch::jit::Value* v);

// Inserts a copy of `node`, without its blocks, before `before`, its inputs
// mapped through `map`, and adds its outputs to `map`. The copies get no
// debug names: making each unique in the graph (as Graph::createClone does)
// was a tenth of the inlining.
torch::jit::Node* CopyNodeBefore(const torch::jit::Node& node,
                                 torch::jit::Node* before, ValueMap& map);

// The constant that stands for `read`, a prim::GetAttr of `object`, in a
// specialised graph, inserted at `graph`'s insert point; nullptr when the
// attribute stays a read: a tensor, a submodule or other object, a missing
// attribute or a value without a constant form. `training` reads as false.
torch::jit::Value* InsertAttrConstant(torch::jit::Graph& graph,
                                      const c10::ivalue::Object& object,
                                      const torch::jit::Node& read);

// True when `block`, with every call in it inlined, raises at its top
// level.
bool BlockRaises(const torch::jit::Block& block);

// The specialised forward and where its nodes came from.
struct SpecializedForward {
  std::shared_ptr<torch::jit::Graph> graph;
  // Preorder position (nested blocks included) of each node of `graph` in
  // the inlined graph before specialisation.
  std::unordered_map<const torch::jit::Node*, size_t> source_position;
  // Number of nodes of the inlined graph before specialisation.
  size_t source_count = 0;
};

// Inlines and specialises `forward`, a method of `module`, for that
// instance in eval mode (see the file comment). Returns nullptr when the
// code needs the general path; throws what resolving a call or folding a
// node throws. The graph still holds dead code and foldable list
// constructions: the caller finishes with FoldConstants and dead-code
// elimination.
std::unique_ptr<SpecializedForward> InlineSpecialized(
    const torch::jit::Module& module, torch::jit::GraphFunction& forward);

}  // namespace pruneserve::pruning::internal

#endif  // PRUNESERVE_CORE_PRUNING_SPECIALIZING_INLINER_H_
