// Channel dependency analysis of a TorchScript module. Works on the inlined
// forward graph, follows every feature-map channel from the conv (or linear)
// that creates it through BatchNorm, activations, pooling, residual adds,
// concatenation and flattening into the layers that read it, and records
// every parameter or buffer slice that stands for that channel. Channels that
// must be removed together form a coupled channel; the coupled channels
// created by the same layers form a ChannelGroup, the unit a ratio policy
// prunes. Anything the analysis does not understand freezes the channels it
// touches, with the op and the reason recorded, so pruning a frozen group is
// impossible rather than wrong.
#ifndef PRUNESERVE_CORE_PRUNING_CHANNEL_DEPENDENCY_GRAPH_H_
#define PRUNESERVE_CORE_PRUNING_CHANNEL_DEPENDENCY_GRAPH_H_

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"

namespace torch::jit {
struct Module;
struct Node;
struct Value;
}  // namespace torch::jit

namespace pruneserve::pruning {

namespace internal {
class InlinedForward;
}  // namespace internal

// What a slice is to the layer that owns the tensor. Criteria pick their
// inputs by role (e.g. l1 scores kProducerWeight slices).
enum class SliceRole {
  kProducerWeight,   // conv/linear weight rows creating the channel
  kProducerBias,     // their bias entries
  kBatchNormWeight,  // BatchNorm gamma
  kBatchNormBias,    // BatchNorm beta
  kBatchNormStat,    // running_mean / running_var
  kDepthwiseWeight,  // depthwise conv filter that maps the channel to itself
  kDepthwiseBias,
  kConsumerWeight,  // conv/linear weight columns reading the channel
  kNormAffine,      // LayerNorm / GroupNorm weight or bias of the channel
  kChannelScale,    // a per-channel parameter combined element-wise
                    // (e.g. ConvNeXt's layer scale)
};

// `count` consecutive indices starting at `index` along dimension `dim` of the
// parameter or buffer at dotted path `*tensor` (e.g. "layer1.0.bn1.weight").
// The path is interned by the ChannelDependencyGraph and lives as long as it
// does; equal paths are the same pointer.
struct TensorSlice {
  const std::string* tensor = nullptr;
  int dim = 0;
  int64_t index = 0;
  int64_t count = 1;
  SliceRole role = SliceRole::kProducerWeight;
};

// One prunable unit: the slices that all stand for the same channel.
struct CoupledChannel {
  std::vector<TensorSlice> slices;
};

// The coupled channels created by one layer, or by several layers joined by
// residual adds. Channel i of the group is output channel i of `producers[0]`.
struct ChannelGroup {
  int id = 0;
  // Name of the first producer layer (module path, e.g. "layer1.0.conv1").
  std::string name;
  std::vector<std::string> producers;
  // Conv/linear layers reading the group's channels.
  std::vector<std::string> consumers;
  // BatchNorm layers normalising the group's channels.
  std::vector<std::string> batch_norms;
  std::vector<CoupledChannel> channels;
  // False when some op the analysis does not support touches the channels;
  // `frozen_reason` then names the op and why.
  bool prunable = true;
  std::string frozen_reason;
  // Channels joined by an element-wise op of two branches (residual stream).
  bool residual = false;
  // Created by a layer that reads the model input (or another tensor whose
  // channels are not tracked).
  bool stem = false;
};

// Where a coupled channel lives: group index and channel index in the group;
// group == -1 for channels that are not tracked (always kept).
struct ChannelRef {
  int group = -1;
  int channel = -1;
};

// A conv or linear call site, with what FLOPs estimation under a pruning plan
// needs. MACs = kept outputs * kept inputs per group * macs_per_pair.
struct LayerGeometry {
  std::string name;
  bool is_conv = true;
  bool depthwise = false;
  int64_t groups = 1;
  // Kernel area times output positions (times batch).
  int64_t macs_per_pair = 0;
  // Weights per (output, input) pair: the kernel area (1 for linear).
  int64_t params_per_pair = 1;
  std::vector<ChannelRef> outputs;
  // One entry per input channel (conv) or input feature (linear).
  std::vector<ChannelRef> inputs;

  // (output, input) pairs connected by weights when `kept_out` outputs and
  // `kept_in` inputs remain: a depthwise conv reads one channel per output,
  // a grouped conv 1/groups of them. MACs = pairs * macs_per_pair.
  int64_t WeightPairs(int64_t kept_out, int64_t kept_in) const {
    if (is_conv) {
      kept_in = depthwise ? 1 : kept_in / (groups > 1 ? groups : 1);
    }
    return kept_out * kept_in;
  }
};

// A graph constant or int attribute that holds a channel count and must be
// rewritten after pruning: conv `groups` of a depthwise conv, the feature
// size of a view/reshape before a linear, a LayerNorm's normalized_shape, a
// split size.
struct CountSite {
  enum class Kind { kGraphInput, kAttribute };
  Kind kind = Kind::kGraphInput;
  // kGraphInput: a node of the analysed (specialised)
  // graph; the surgery edits its source node (InlinedForward::SourceNode).
  torch::jit::Node* node = nullptr;
  size_t input = 0;         // input index in `node`
  int64_t list_index = -1;  // kGraphInput of an int list: the element
  std::string attribute;    // kAttribute: dotted path of the int
  // New value = (number of kept channels) / divisor.
  std::vector<ChannelRef> channels;
  int64_t divisor = 1;
};

// The result of the analysis. Owns the inlined graph it was computed on (the
// surgery rewrites constants in it). Immutable after Build() except through
// the surgery; not thread-safe.
class ChannelDependencyGraph {
 public:
  ~ChannelDependencyGraph();
  ChannelDependencyGraph(ChannelDependencyGraph&&) noexcept;

  // Analyses `module` (a handle: the object is shared, not copied) by running
  // it once, in eval mode and without grad, on zeros of `input_shape`.
  // Returns InvalidArgument when the module does not run on that shape and
  // FailedPrecondition when its forward cannot be inlined. Unsupported ops are
  // not errors: they freeze groups. Blocks for one forward pass.
  static absl::StatusOr<std::unique_ptr<ChannelDependencyGraph>> Build(
      const torch::jit::Module& module,
      const std::vector<int64_t>& input_shape);

  const std::vector<ChannelGroup>& groups() const { return groups_; }
  const std::vector<LayerGeometry>& layers() const { return layers_; }
  const std::vector<CountSite>& count_sites() const { return count_sites_; }
  // True when some element-wise op joins two tracked branches.
  bool has_residual() const { return has_residual_; }
  // The input value of each entry of layers(), for activation probes.
  const std::vector<torch::jit::Value*>& layer_inputs() const {
    return layer_inputs_;
  }
  internal::InlinedForward& forward() const { return *forward_; }
  // The sizes of every tensor value of forward().graph()'s top-level block
  // in the analysis run.
  const std::unordered_map<const torch::jit::Value*, std::vector<int64_t>>&
  shapes() const {
    return shapes_;
  }
  const std::vector<int64_t>& input_shape() const { return input_shape_; }

  // A readable listing of the groups: size, members, frozen reasons.
  std::string Describe() const;

 private:
  friend class ChannelAnalyzer;
  ChannelDependencyGraph();

  std::unique_ptr<internal::InlinedForward> forward_;
  std::vector<int64_t> input_shape_;
  std::unordered_map<const torch::jit::Value*, std::vector<int64_t>> shapes_;
  // Interned tensor paths of the slices (node-based: addresses are stable).
  std::unordered_set<std::string> tensor_paths_;
  std::vector<ChannelGroup> groups_;
  std::vector<LayerGeometry> layers_;
  std::vector<torch::jit::Value*> layer_inputs_;
  std::vector<CountSite> count_sites_;
  bool has_residual_ = false;
};

// Name of the layer owning a parameter path: "a.b.weight" -> "a.b"; a
// top-level parameter names itself.
std::string LayerNameOf(const std::string& tensor_path);

}  // namespace pruneserve::pruning

#endif  // PRUNESERVE_CORE_PRUNING_CHANNEL_DEPENDENCY_GRAPH_H_
