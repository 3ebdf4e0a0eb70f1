// A BatchSource over tensors held in memory, for calibration in tests.
#ifndef PRUNESERVE_TESTS_CORE_PRUNING_IN_MEMORY_BATCH_SOURCE_H_
#define PRUNESERVE_TESTS_CORE_PRUNING_IN_MEMORY_BATCH_SOURCE_H_

#include <torch/torch.h>

#include "core/data/batch_source.h"

namespace pruneserve::pruning::testing {

// Serves `images` ([N, C, H, W]) in batches of `batch_size`, in a per-epoch
// order shuffled by (seed, epoch). Not thread-safe.
class InMemoryBatchSource : public data::BatchSource {
 public:
  InMemoryBatchSource(torch::Tensor images, int64_t batch_size, int seed = 0)
      : images_(std::move(images)), batch_size_(batch_size), seed_(seed) {
    StartEpoch(0);
  }

  // Random normal images of `shape` (shape[0] = examples) for `seed`.
  static InMemoryBatchSource Random(const std::vector<int64_t>& shape,
                                    int64_t batch_size, int seed = 0) {
    torch::manual_seed(seed);
    return InMemoryBatchSource(torch::randn(shape), batch_size, seed);
  }

  void StartEpoch(int64_t epoch) override {
    torch::manual_seed(seed_ * 1000003 + epoch);
    order_ = torch::randperm(images_.size(0));
    next_ = 0;
  }

  absl::StatusOr<std::optional<data::Batch>> Next() override {
    if (next_ >= images_.size(0)) return std::optional<data::Batch>();
    const int64_t n = std::min(batch_size_, images_.size(0) - next_);
    auto idx = order_.narrow(0, next_, n);
    next_ += n;
    return std::optional<data::Batch>(data::Batch{
        images_.index_select(0, idx), torch::zeros({n}, torch::kLong)});
  }

  int64_t num_examples() const override { return images_.size(0); }
  int64_t num_classes() const override { return 10; }

 private:
  torch::Tensor images_;
  int64_t batch_size_;
  int seed_;
  torch::Tensor order_;
  int64_t next_ = 0;
};

}  // namespace pruneserve::pruning::testing

#endif  // PRUNESERVE_TESTS_CORE_PRUNING_IN_MEMORY_BATCH_SOURCE_H_
