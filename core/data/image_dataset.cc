// InMemoryImageDataset: examples are views into one contiguous tensor.
#include "core/data/image_dataset.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace pruneserve::data {

InMemoryImageDataset::InMemoryImageDataset(torch::Tensor images,
                                           torch::Tensor labels,
                                           int64_t num_classes)
    : images_(std::move(images)),
      labels_(std::move(labels)),
      num_classes_(num_classes) {
  torch::Tensor contiguous = labels_.to(torch::kLong).contiguous();
  const int64_t* data = contiguous.data_ptr<int64_t>();
  label_values_.assign(data, data + contiguous.numel());
}

int64_t InMemoryImageDataset::size() const {
  return static_cast<int64_t>(label_values_.size());
}

absl::StatusOr<Example> InMemoryImageDataset::Get(int64_t index) const {
  if (index < 0 || index >= size()) {
    return absl::OutOfRangeError(
        absl::StrCat("example ", index, " out of range [0, ", size(), ")"));
  }
  return Example{images_[index], label_values_[index]};
}

}  // namespace pruneserve::data
