// Reader for the IDX format of MNIST and Fashion-MNIST: a big-endian header
// (magic 0x00000803 for uint8 images with 3 dimensions, 0x00000801 for uint8
// labels with 1) followed by raw bytes. Files may be gzip-compressed, as
// Debian's dataset-fashion-mnist installs them, or plain; zlib reads both.
// Torch-free, so that clients that only send the images (prunectl serve
// classify) need no LibTorch; core/data/idx_reader.h turns the bytes into a
// data set of tensors.
#ifndef PRUNESERVE_CORE_DATA_IDX_FILE_H_
#define PRUNESERVE_CORE_DATA_IDX_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

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

// The examples of an IDX pair, as stored: `pixels` holds count() images of
// rows x cols bytes, row-major, one after the other; labels[i] is image i's.
struct IdxImages {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<uint8_t> pixels;
  std::vector<uint8_t> labels;

  int64_t count() const { return static_cast<int64_t>(labels.size()); }
};

// Reads both files into memory. Errors name the file and the (uncompressed)
// byte offset: NOT_FOUND for a missing file, DATA_LOSS for a wrong magic
// number, a header that declares more data than the file can hold (checked
// before anything is allocated), a truncated file, a corrupt gzip stream,
// mismatched counts or a label out of range, RESOURCE_EXHAUSTED when the
// declared data cannot be allocated, INVALID_ARGUMENT for bad options.
// Blocks on disk I/O (~0.5 s for the 60000-image Fashion-MNIST training
// set). Thread-safe.
absl::StatusOr<IdxImages> ReadIdxFiles(const IdxOptions& options);

}  // namespace pruneserve::data

#endif  // PRUNESERVE_CORE_DATA_IDX_FILE_H_
