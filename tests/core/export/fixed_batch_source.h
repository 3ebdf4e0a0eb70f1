// A BatchSource over in-memory tensors, served in order, for export tests.
#ifndef PRUNESERVE_TESTS_CORE_EXPORT_FIXED_BATCH_SOURCE_H_
#define PRUNESERVE_TESTS_CORE_EXPORT_FIXED_BATCH_SOURCE_H_

#include <torch/torch.h>

#include <algorithm>
#include <optional>

#include "core/data/batch_source.h"

namespace pruneserve::vitis::testing {

// Serves images[i:i+batch] with labels i % 10, the same order every epoch.
// Records the last epoch started. Not thread-safe.
class FixedBatchSource : public data::BatchSource {
 public:
  FixedBatchSource(torch::Tensor images, int64_t batch_size)
      : images_(std::move(images)), batch_size_(batch_size) {}

  void StartEpoch(int64_t epoch) override {
    last_epoch_ = epoch;
    next_ = 0;
  }

  absl::StatusOr<std::optional<data::Batch>> Next() override {
    if (next_ >= images_.size(0)) return std::optional<data::Batch>();
    const int64_t n = std::min(batch_size_, images_.size(0) - next_);
    data::Batch batch{images_.narrow(0, next_, n),
                      torch::arange(next_, next_ + n, torch::kLong) % 10};
    next_ += n;
    return std::optional<data::Batch>(std::move(batch));
  }

  int64_t num_examples() const override { return images_.size(0); }
  int64_t num_classes() const override { return 10; }
  int64_t last_epoch() const { return last_epoch_; }

 private:
  torch::Tensor images_;
  int64_t batch_size_;
  int64_t next_ = 0;
  int64_t last_epoch_ = -1;
};

}  // namespace pruneserve::vitis::testing

#endif  // PRUNESERVE_TESTS_CORE_EXPORT_FIXED_BATCH_SOURCE_H_
