// Constant folding for the specialised forward graph (see
// inlined_forward.h), cheaper than TorchScript's generic passes on the
// graphs real CNNs give. Once module attributes are constants, what is
// left to fold in a scripted CNN is scalar code (`if self.use_res_connect`,
// `padding_mode != "zeros"`, `x.dim() != 4` checks that no longer raise)
// and constant int lists (`view` sizes, pooling sizes). jit's
// ConstantPropagation handles those too, but builds an alias database of
// the whole graph for it, twice; on MobileNetV2 that was a quarter of the
// engine's time. The folding here needs no alias database because it
// folds only what cannot be aliased or written: values of immutable types,
// and int lists that no node may write.
//
// Graphs with loops or list mutation (DenseNet's `features.append`) are
// left to the generic passes: see NeedsGenericPasses. Internal to
// core/pruning.
#ifndef PRUNESERVE_CORE_PRUNING_CONSTANT_FOLDING_H_
#define PRUNESERVE_CORE_PRUNING_CONSTANT_FOLDING_H_

#include <torch/csrc/jit/ir/ir.h>

#include <functional>
#include <optional>
#include <vector>

namespace pruneserve::pruning::internal {

// True when `node` may write one of its list or dict inputs (append,
// insert, __setitem__, ...), as its schema's alias annotations say.
bool WritesContainer(const torch::jit::Node* node);

// True when `pred` holds for a node of `block` or of a block nested in it
// (program order, stops at the first).
bool AnyNode(const torch::jit::Block* block,
             const std::function<bool(const torch::jit::Node*)>& pred);

// True when `block` (or a nested block) holds a loop or a node that may
// write a list: what FoldConstants does not handle.
bool NeedsGenericPasses(const torch::jit::Block* block);

// Folds, in one pass in program order over `graph` and its nested blocks:
// nodes whose inputs are all constants and whose inputs and outputs are of
// immutable types (no side effects, deterministic, no blocks); prim::If
// nodes with a constant condition (the taken branch replaces the node); and
// prim::ListConstruct nodes of constants whose list no node may write.
// Folded nodes are left for dead-code elimination. Throws what running a
// node throws (a constant computation that fails at runtime, such as an
// integer division by zero, is left unfolded instead).
void FoldConstants(torch::jit::Graph& graph);

// Folds one node as FoldConstants would, for a graph under construction:
// returns the constants (inserted before `node`) that replace its outputs,
// or nullopt when it does not fold. prim::ListConstruct never folds here
// (whether its list is written depends on uses not built yet). Leaves
// `node` in place; the caller rewires its uses.
std::optional<std::vector<torch::jit::Value*>> FoldScalarNode(
    torch::jit::Graph& graph, torch::jit::Node* node);

}  // namespace pruneserve::pruning::internal

#endif  // PRUNESERVE_CORE_PRUNING_CONSTANT_FOLDING_H_
