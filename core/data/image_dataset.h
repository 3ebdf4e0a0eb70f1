// Random-access image data sets: the loaders (IDX, CIFAR, ImageFolder)
// produce one, transforms and the PrefetchingLoader consume it. Examples are
// raw uint8 [C, H, W] images with an integer label; conversion to float and
// augmentation happen later, per epoch.
#ifndef PRUNESERVE_CORE_DATA_IMAGE_DATASET_H_
#define PRUNESERVE_CORE_DATA_IMAGE_DATASET_H_

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace pruneserve::data {

// One undecoded-to-float example.
struct Example {
  // uint8 [C, H, W], values 0..255. May be a view into a larger tensor;
  // treat as read-only.
  torch::Tensor image;
  // In [0, num_classes).
  int64_t label = 0;
};

// A fixed, indexable collection of labelled images. Implementations must
// make Get() safe to call concurrently from several threads.
class ImageDataset {
 public:
  virtual ~ImageDataset() = default;

  // Number of examples.
  virtual int64_t size() const = 0;

  // Number of classes; every label is in [0, num_classes()).
  virtual int64_t num_classes() const = 0;

  // Returns example `index` (0 <= index < size()). Fails with an error
  // naming the file when a lazily decoded image cannot be read; OUT_OF_RANGE
  // for a bad index. Thread-safe; may block on disk I/O.
  virtual absl::StatusOr<Example> Get(int64_t index) const = 0;
};

// A data set whose images all sit in one uint8 [N, C, H, W] tensor (IDX and
// CIFAR files are small enough to decode up front). Immutable after
// construction, so Get() is thread-safe and never blocks.
class InMemoryImageDataset : public ImageDataset {
 public:
  // `images` uint8 [N, C, H, W]; `labels` int64 [N] with values in
  // [0, num_classes). The loaders validate these; the constructor trusts them.
  InMemoryImageDataset(torch::Tensor images, torch::Tensor labels,
                       int64_t num_classes);

  int64_t size() const override;
  int64_t num_classes() const override { return num_classes_; }
  absl::StatusOr<Example> Get(int64_t index) const override;

  // The whole data set, for tests and statistics.
  const torch::Tensor& images() const { return images_; }
  const torch::Tensor& labels() const { return labels_; }

 private:
  torch::Tensor images_;
  torch::Tensor labels_;
  // Host copy of labels_ so Get() does not touch the tensor library.
  std::vector<int64_t> label_values_;
  int64_t num_classes_;
};

}  // namespace pruneserve::data

#endif  // PRUNESERVE_CORE_DATA_IMAGE_DATASET_H_
