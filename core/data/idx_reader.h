// Reader for the IDX format of MNIST and Fashion-MNIST: a big-endian header
// (magic 0x00000803 for uint8 images with 3 dimensions, 0x00000801 for uint8
// labels with 1) followed by raw bytes. Files may be gzip-compressed, as
// Debian's dataset-fashion-mnist installs them, or plain; zlib reads both.
#ifndef PRUNESERVE_CORE_DATA_IDX_READER_H_
#define PRUNESERVE_CORE_DATA_IDX_READER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/data/image_dataset.h"

namespace pruneserve::data {

struct IdxOptions {
  // Paths of the image file (idx3-ubyte[.gz]) and label file
  // (idx1-ubyte[.gz]).
  std::string images_path;
  std::string labels_path;
  // Load only the first `limit` examples; 0 loads all.
  int64_t limit = 0;
  // Labels must lie in [0, num_classes).
  int64_t num_classes = 10;
};

// Reads both files into memory; images come out as [N, 1, rows, cols].
// Errors name the file and the (uncompressed) byte offset: NOT_FOUND for a
// missing file, DATA_LOSS for a wrong magic number, a header that declares
// more data than the file can hold (checked before anything is allocated), a
// truncated file, a corrupt gzip stream, mismatched counts or a label out of
// range, RESOURCE_EXHAUSTED when the declared data cannot be allocated,
// INVALID_ARGUMENT for bad options. Blocks on disk I/O (~0.5 s for the
// 60000-image Fashion-MNIST training set). Thread-safe.
absl::StatusOr<std::shared_ptr<InMemoryImageDataset>> LoadIdxDataset(
    const IdxOptions& options);

}  // namespace pruneserve::data

#endif  // PRUNESERVE_CORE_DATA_IDX_READER_H_
