// One call from a data-set spec string to a ready BatchSource: parse the
// spec, load or index the data set, and wrap it in a PrefetchingLoader whose
// transforms adapt the images to a model's input shape (channel count,
// side) with the format's customary normalisation. The CLI's local pipeline
// and the job service open their data this way, so a spec means the same
// thing in both.
#ifndef PRUNESERVE_CORE_DATA_SOURCE_FACTORY_H_
#define PRUNESERVE_CORE_DATA_SOURCE_FACTORY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/data/batch_source.h"

namespace pruneserve::data {

struct SourceOptions {
  // Data-set spec, e.g. "fashion-mnist:/usr/share/datasets/fashion-mnist:train"
  // (see dataset_spec.h).
  std::string spec;
  // Use only the first N examples (0 = all).
  int64_t limit = 0;
  int64_t batch_size = 64;
  // Reshuffle every epoch (training data).
  bool shuffle = false;
  // Random crop (padding 2) and horizontal flip (training data).
  bool augment = false;
  // Seed of the order and the augmentations.
  uint64_t seed = 0;
  // Background decoding threads.
  int threads = 2;
};

// Opens `options.spec` producing batches of images shaped like
// `input_shape` [N, C, H, W] (only C, H and W are used). Returns
// INVALID_ARGUMENT for a bad spec or shape, NOT_FOUND / DATA_LOSS from the
// readers. Blocks while the data set is read or indexed.
absl::StatusOr<std::unique_ptr<BatchSource>> OpenBatchSource(
    const SourceOptions& options, const std::vector<int64_t>& input_shape);

}  // namespace pruneserve::data

#endif  // PRUNESERVE_CORE_DATA_SOURCE_FACTORY_H_
