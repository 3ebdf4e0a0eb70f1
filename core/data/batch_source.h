// The contract between data loaders (core/data) and their consumers (the
// trainer, the sparsity probe, calibration): a stream of labelled image
// batches, restartable per epoch.
#ifndef PRUNESERVE_CORE_DATA_BATCH_SOURCE_H_
#define PRUNESERVE_CORE_DATA_BATCH_SOURCE_H_

#include <torch/types.h>

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"

namespace pruneserve::data {

// One mini-batch. `images` is float32 [N, C, H, W], already transformed and
// normalised; `labels` is int64 [N] with values in [0, num_classes).
struct Batch {
  torch::Tensor images;
  torch::Tensor labels;
};

// A restartable stream of batches. Implementations document their own
// thread-safety; consumers call it from one thread.
class BatchSource {
 public:
  virtual ~BatchSource() = default;

  // Starts epoch `epoch` (0-based). The order of examples is a deterministic
  // function of the source's seed and `epoch`. Any batches not consumed from
  // the previous epoch are discarded.
  virtual void StartEpoch(int64_t epoch) = 0;

  // Returns the next batch of the current epoch, std::nullopt at its end, or
  // an error naming the file and offset of bad data. May block while a batch
  // is being decoded.
  virtual absl::StatusOr<std::optional<Batch>> Next() = 0;

  // Number of examples in one epoch.
  virtual int64_t num_examples() const = 0;

  // Number of classes; labels are in [0, num_classes()).
  virtual int64_t num_classes() const = 0;
};

}  // namespace pruneserve::data

#endif  // PRUNESERVE_CORE_DATA_BATCH_SOURCE_H_
