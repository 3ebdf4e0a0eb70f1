// The test BatchSource and synthetic data; see in_memory_batch_source.h.
#include "tests/core/training/in_memory_batch_source.h"

#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <utility>

namespace pruneserve::training::testing {

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
}

void InMemoryBatchSource::StartEpoch(int64_t epoch) {
  order_.resize(static_cast<size_t>(labels_.size(0)));
  std::iota(order_.begin(), order_.end(), 0);
  if (shuffle_) {
    std::mt19937_64 rng(seed_ * 1000003ULL + static_cast<uint64_t>(epoch));
    std::shuffle(order_.begin(), order_.end(), rng);
  }
  cursor_ = 0;
}

absl::StatusOr<std::optional<data::Batch>> InMemoryBatchSource::Next() {
  const int64_t n = static_cast<int64_t>(order_.size());
  if (cursor_ >= n) return std::optional<data::Batch>();
  const int64_t end = std::min(cursor_ + batch_size_, n);
  std::vector<int64_t> idx(order_.begin() + cursor_, order_.begin() + end);
  cursor_ = end;
  ++batches_served_;
  torch::Tensor index = torch::tensor(idx, torch::kLong);
  return std::optional<data::Batch>(
      data::Batch{images_.index_select(0, index).clone(),
                  labels_.index_select(0, index).clone()});
}

ImageSet MakeQuadrantImages(int64_t n, int64_t num_classes, uint64_t seed) {
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  ImageSet set;
  set.images = torch::randn({n, 1, 8, 8}, gen) * 0.5;
  set.labels = torch::arange(n, torch::kLong).remainder(num_classes);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = set.labels[i].item<int64_t>();
    const int64_t r0 = (c / 2) * 4, c0 = (c % 2) * 4;
    set.images[i][0].slice(0, r0, r0 + 4).slice(1, c0, c0 + 4).add_(1.0);
  }
  return set;
}

}  // namespace pruneserve::training::testing
