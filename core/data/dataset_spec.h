// Data-set specs: the one-line strings the CLI, the job service and configs
// use to name a data set, and their translation into a loaded data set.
//
//   fashion-mnist:/usr/share/datasets/fashion-mnist:train
//   mnist:DIR:test
//   cifar10:DIR:train        (cifar-10-batches-bin layout)
//   cifar100:DIR:test        (cifar-100-binary layout, fine labels)
//   imagefolder:DIR          (DIR/<class>/<image>)
//   imagefolder:DIR:val      (DIR/val/<class>/<image>)
//
// The format is the text before the first ':'; a trailing ":train", ":test"
// or ":val" is the split, so directory names may themselves contain ':'.
// Parsing lives in dataset_spec_parser.h (no LibTorch), which this header
// exports.
#ifndef PRUNESERVE_CORE_DATA_DATASET_SPEC_H_
#define PRUNESERVE_CORE_DATA_DATASET_SPEC_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/data/dataset_spec_parser.h"
#include "core/data/image_dataset.h"

namespace pruneserve::data {

struct OpenOptions {
  // Load at most this many examples (0 = all).
  int64_t limit = 0;
  // ImageFolder only: channels images are decoded to (1 or 3).
  int64_t image_folder_channels = 3;
};

// Loads (IDX, CIFAR) or indexes (ImageFolder) the data set. The errors of
// the underlying loader: NOT_FOUND for missing files, DATA_LOSS naming file
// and offset for bad data. Blocks on disk I/O. Thread-safe.
absl::StatusOr<std::shared_ptr<const ImageDataset>> OpenDataset(
    const DatasetSpec& spec, const OpenOptions& options = {});

// Channels, image side and per-channel normalisation customary for the
// format (CIFAR statistics, Fashion-MNIST's 0.2860/0.3530, ImageNet's for
// ImageFolder), so a trainer can fill TransformOptions from a spec.
struct FormatDefaults {
  int64_t channels;
  int64_t image_size;
  std::vector<double> mean;
  std::vector<double> std;
};
FormatDefaults DefaultsFor(DatasetFormat format);

}  // namespace pruneserve::data

#endif  // PRUNESERVE_CORE_DATA_DATASET_SPEC_H_
