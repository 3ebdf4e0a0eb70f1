// An in-memory BatchSource for the training tests: fixed tensors, a fixed
// batch size, optional per-epoch shuffling that is a pure function of
// (seed, epoch), and a counter of Next() calls so tests can see how far a
// run got. Also builds a small linearly separable image set.
#ifndef PRUNESERVE_TESTS_CORE_TRAINING_IN_MEMORY_BATCH_SOURCE_H_
#define PRUNESERVE_TESTS_CORE_TRAINING_IN_MEMORY_BATCH_SOURCE_H_

#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "core/data/batch_source.h"

namespace pruneserve::training::testing {

// Serves `images` [N, C, H, W] / `labels` [N] in batches. Not thread-safe.
class InMemoryBatchSource : public data::BatchSource {
 public:
  InMemoryBatchSource(torch::Tensor images, torch::Tensor labels,
                      int64_t num_classes, int64_t batch_size,
                      bool shuffle = false, uint64_t seed = 0);

  void StartEpoch(int64_t epoch) override;
  absl::StatusOr<std::optional<data::Batch>> Next() override;
  int64_t num_examples() const override { return labels_.size(0); }
  int64_t num_classes() const override { return num_classes_; }

  // Batches handed out by Next() since construction.
  int64_t batches_served() const { return batches_served_; }

 private:
  torch::Tensor images_;
  torch::Tensor labels_;
  const int64_t num_classes_;
  const int64_t batch_size_;
  const bool shuffle_;
  const uint64_t seed_;
  std::vector<int64_t> order_;
  int64_t cursor_ = 0;
  int64_t batches_served_ = 0;
};

struct ImageSet {
  torch::Tensor images;  // float [N, 1, 8, 8]
  torch::Tensor labels;  // int64 [N]
};

// `n` images of `num_classes` (<= 4) classes: class c is Gaussian noise
// (sigma 0.5) plus +1 on quadrant c of the 8x8 image. Deterministic for a
// seed; does not touch the global generator.
ImageSet MakeQuadrantImages(int64_t n, int64_t num_classes, uint64_t seed);

}  // namespace pruneserve::training::testing

#endif  // PRUNESERVE_TESTS_CORE_TRAINING_IN_MEMORY_BATCH_SOURCE_H_
