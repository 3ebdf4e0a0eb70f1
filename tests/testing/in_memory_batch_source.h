// The one BatchSource fake of the test suites: images and labels held in
// memory, served in batches, in order or in a per-epoch shuffled order that
// is a pure function of (seed, epoch). It counts the batches it served and
// remembers the last epoch started, so tests can see how far a run got.
#ifndef PRUNESERVE_TESTS_TESTING_IN_MEMORY_BATCH_SOURCE_H_
#define PRUNESERVE_TESTS_TESTING_IN_MEMORY_BATCH_SOURCE_H_

#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "core/data/batch_source.h"

namespace pruneserve::testing {

// Serves `images` [N, C, H, W] / `labels` [N] (int64, in [0, num_classes))
// `batch_size` at a time; the last batch of an epoch may be smaller. With
// `shuffle` the order of epoch e is torch::randperm(N) drawn from a private
// generator seeded with seed * 1000003 + e (the global generator is not
// touched). Not thread-safe.
class InMemoryBatchSource : public data::BatchSource {
 public:
  InMemoryBatchSource(torch::Tensor images, torch::Tensor labels,
                      int64_t num_classes, int64_t batch_size,
                      bool shuffle = false, uint64_t seed = 0);

  // Calibration data: random-normal images of `shape` (shape[0] examples),
  // all labelled 0 of 10 classes, shuffled per epoch. Seeds the global
  // generator with `seed` before drawing, like torch::manual_seed, so a
  // test's later draws are reproducible too.
  static InMemoryBatchSource Random(const std::vector<int64_t>& shape,
                                    int64_t batch_size, uint64_t seed = 0);

  // Images `images` labelled i % num_classes, served in order.
  static InMemoryBatchSource InOrder(torch::Tensor images, int64_t batch_size,
                                     int64_t num_classes = 10);

  void StartEpoch(int64_t epoch) override;
  absl::StatusOr<std::optional<data::Batch>> Next() override;
  int64_t num_examples() const override { return labels_.size(0); }
  int64_t num_classes() const override { return num_classes_; }

  // Batches handed out by Next() since construction.
  int64_t batches_served() const { return batches_served_; }
  // The last epoch StartEpoch() was called with; -1 before any call.
  int64_t last_epoch() const { return last_epoch_; }

 private:
  torch::Tensor images_;
  torch::Tensor labels_;
  int64_t num_classes_;
  int64_t batch_size_;
  bool shuffle_;
  uint64_t seed_;
  // Example indices of the current epoch, int64 [N].
  torch::Tensor order_;
  int64_t cursor_ = 0;
  int64_t batches_served_ = 0;
  int64_t last_epoch_ = -1;
};

}  // namespace pruneserve::testing

#endif  // PRUNESERVE_TESTS_TESTING_IN_MEMORY_BATCH_SOURCE_H_
