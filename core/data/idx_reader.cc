#include "core/data/idx_reader.h"

#include <torch/torch.h>

#include <utility>

#include "core/util/status_macros.h"

namespace pruneserve::data {

absl::StatusOr<std::shared_ptr<InMemoryImageDataset>> LoadIdxDataset(
    const IdxOptions& options) {
  PS_ASSIGN_OR_RETURN(IdxImages read, ReadIdxFiles(options));
  auto bytes = std::make_shared<IdxImages>(std::move(read));
  const int64_t n = bytes->count();
  // The image tensor borrows the pixels; its deleter keeps them alive.
  torch::Tensor images = torch::from_blob(
      bytes->pixels.data(), {n, 1, bytes->rows, bytes->cols},
      [bytes](void*) {}, torch::kUInt8);
  torch::Tensor labels =
      torch::from_blob(bytes->labels.data(), {n}, torch::kUInt8)
          .to(torch::kLong);
  return std::make_shared<InMemoryImageDataset>(
      std::move(images), std::move(labels), options.num_classes);
}

}  // namespace pruneserve::data
