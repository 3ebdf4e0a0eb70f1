#include "tests/testing/in_memory_batch_source.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <utility>

namespace pruneserve::testing {

InMemoryBatchSource::InMemoryBatchSource(torch::Tensor images,
                                         torch::Tensor labels,
                                         int64_t num_classes,
                                         int64_t batch_size, bool shuffle,
                                         uint64_t seed)
    : images_(std::move(images)),
      labels_(std::move(labels)),
      num_classes_(num_classes),
      batch_size_(batch_size),
      shuffle_(shuffle),
      seed_(seed) {
  StartEpoch(0);
  // Construction is not a caller's epoch.
  last_epoch_ = -1;
}

InMemoryBatchSource InMemoryBatchSource::Random(
    const std::vector<int64_t>& shape, int64_t batch_size, uint64_t seed) {
  torch::manual_seed(seed);
  torch::Tensor images = torch::randn(shape);
  torch::Tensor labels = torch::zeros({shape.at(0)}, torch::kLong);
  return InMemoryBatchSource(std::move(images), std::move(labels), 10,
                             batch_size, /*shuffle=*/true, seed);
}

InMemoryBatchSource InMemoryBatchSource::InOrder(torch::Tensor images,
                                                 int64_t batch_size,
                                                 int64_t num_classes) {
  torch::Tensor labels =
      torch::arange(images.size(0), torch::kLong).remainder(num_classes);
  return InMemoryBatchSource(std::move(images), std::move(labels), num_classes,
                             batch_size);
}

void InMemoryBatchSource::StartEpoch(int64_t epoch) {
  const int64_t n = labels_.size(0);
  if (shuffle_) {
    torch::Generator gen = at::detail::createCPUGenerator(
        seed_ * 1000003ULL + static_cast<uint64_t>(epoch));
    order_ = torch::randperm(n, gen, torch::kLong);
  } else {
    order_ = torch::arange(n, torch::kLong);
  }
  cursor_ = 0;
  last_epoch_ = epoch;
}

absl::StatusOr<std::optional<data::Batch>> InMemoryBatchSource::Next() {
  const int64_t n = order_.size(0);
  if (cursor_ >= n) return std::optional<data::Batch>();
  const int64_t take = std::min(batch_size_, n - cursor_);
  torch::Tensor index = order_.narrow(0, cursor_, take);
  cursor_ += take;
  ++batches_served_;
  return std::optional<data::Batch>(data::Batch{
      images_.index_select(0, index), labels_.index_select(0, index)});
}

}  // namespace pruneserve::testing
