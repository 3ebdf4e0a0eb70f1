// Physical channel removal. Given the analysis of a module and, for every
// channel group, which channels to keep, slices every coupled parameter and
// buffer, re-registers the sliced tensors on their owning submodules, updates
// the int attributes that hold channel counts (in_channels, out_channels,
// num_features, in_features, out_features, groups) and rewrites the code
// constants that hold them (depthwise `groups`, a view's feature size), in
// the method that holds each when it can, else in an inlined forward. The
// result is an ordinary TorchScript module that saves, loads and trains.
#ifndef PRUNESERVE_CORE_PRUNING_MODULE_SURGERY_H_
#define PRUNESERVE_CORE_PRUNING_MODULE_SURGERY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/pruning/channel_dependency_graph.h"

namespace pruneserve::pruning {

// keep[g][c] is true when channel c of group g survives.
using KeepMasks = std::vector<std::vector<bool>>;

// A mask that keeps everything.
KeepMasks KeepAll(const ChannelDependencyGraph& analysis);

struct SurgeryResult {
  // True when forward() was replaced by the analysed (inlined) graph because
  // a channel count was a constant in the program.
  bool forward_rewritten = false;
  // Constants of the code (a depthwise conv's `groups`, a view's size)
  // rewritten in the methods that hold them; forward keeps its calls.
  int constants_rewritten = 0;
  // Class constants that could not be updated because several submodules
  // share their class type (the forward does not read them).
  std::vector<std::string> warnings;
};

// Prunes the module the analysis was built on, in place. The module must own
// its class types (pass a Module::clone() of a caller's model), because the
// forward method of its root type may be replaced. `analysis` is consumed:
// its graph is rewritten and must not be reused.
//
// Returns InvalidArgument when a mask has the wrong size, removes channels of
// a frozen group or removes every channel of a group; Internal when slicing
// fails, in which case the module is in an unspecified state.
absl::StatusOr<SurgeryResult> ApplyChannelPruning(
    ChannelDependencyGraph& analysis, const KeepMasks& keep);

}  // namespace pruneserve::pruning

#endif  // PRUNESERVE_CORE_PRUNING_MODULE_SURGERY_H_
