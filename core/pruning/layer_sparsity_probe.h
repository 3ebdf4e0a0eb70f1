// Layer-wise input sparsity, the signal of the refined pruning method: for
// every conv and linear layer, the fraction of exact zeros in the tensor that
// enters it (after BN+ReLU and pooling), and the per-channel average
// percentage of zeros (APoZ), measured over calibration batches.
#ifndef PRUNESERVE_CORE_PRUNING_LAYER_SPARSITY_PROBE_H_
#define PRUNESERVE_CORE_PRUNING_LAYER_SPARSITY_PROBE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/data/batch_source.h"
#include "core/pruning/channel_dependency_graph.h"
#include "core/pruning/pruning_options.h"

namespace pruneserve::pruning {

struct LayerActivationStats {
  // Layer name as in ChannelDependencyGraph::layers().
  std::string layer;
  // Fraction of exact zeros over all elements of the layer's input.
  double input_sparsity = 0.0;
  // Per input channel (conv) or input feature (linear): fraction of zeros.
  std::vector<double> channel_apoz;
};

struct SparsityProfile {
  std::vector<LayerActivationStats> layers;
  // Calibration examples the statistics are over.
  int64_t examples = 0;

  // The stats of `layer`, or nullptr.
  const LayerActivationStats* Find(const std::string& layer) const;
};

// Calls `visit` with each batch of the calibration examples `options`
// selects from `source` (epoch options.epoch; the last batch truncated to
// options.max_examples). Returns the number of examples visited,
// FailedPrecondition when the source yields none, or the source's or
// visit's error. Blocks while batches are decoded.
absl::StatusOr<int64_t> ForEachCalibrationBatch(
    data::BatchSource& source, const SparsityProbeOptions& options,
    const std::function<absl::Status(const data::Batch&)>& visit);

// Measures a SparsityProfile by running the analysed graph with the inputs of
// every conv/linear tapped. Stateless apart from its options; the module is
// run in eval mode without grad and its training flags are restored. Not
// thread-safe with respect to the module.
class LayerSparsityProbe {
 public:
  // Defined in pruning_options.h, beside the other pruning options.
  using Options = SparsityProbeOptions;

  // Returns FailedPrecondition when the source yields no examples, the
  // source's error when it fails, InvalidArgument when the model rejects a
  // batch. Blocks for one forward pass per batch.
  static absl::StatusOr<SparsityProfile> Measure(
      const ChannelDependencyGraph& analysis, data::BatchSource& source,
      const Options& options);
};

}  // namespace pruneserve::pruning

#endif  // PRUNESERVE_CORE_PRUNING_LAYER_SPARSITY_PROBE_H_
