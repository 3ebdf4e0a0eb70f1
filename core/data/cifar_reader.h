// Reader for the binary versions of CIFAR-10 and CIFAR-100
// (cifar-10-batches-bin, cifar-100-binary). Each record is the label
// byte(s) — CIFAR-10: one class byte; CIFAR-100: a coarse byte then a fine
// byte — followed by 3072 pixel bytes: the 1024 red values of the 32x32
// image in row-major order, then green, then blue.
#ifndef PRUNESERVE_CORE_DATA_CIFAR_READER_H_
#define PRUNESERVE_CORE_DATA_CIFAR_READER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/data/image_dataset.h"

namespace pruneserve::data {

enum class CifarVariant {
  kCifar10,   // 10 classes, 1 label byte per record
  kCifar100,  // 100 fine classes (20 coarse), 2 label bytes per record
};

struct CifarOptions {
  // Batch files read in order and concatenated.
  std::vector<std::string> files;
  CifarVariant variant = CifarVariant::kCifar10;
  // CIFAR-100 only: use the 20 coarse labels instead of the 100 fine ones.
  bool coarse_labels = false;
  // Load only the first `limit` examples; 0 loads all.
  int64_t limit = 0;
};

// The standard files of a split under `dir`: CIFAR-10 "train" is
// data_batch_1.bin ... data_batch_5.bin and "test" is test_batch.bin;
// CIFAR-100 uses train.bin and test.bin. INVALID_ARGUMENT for another split.
// Does not touch the disk.
absl::StatusOr<std::vector<std::string>> CifarSplitFiles(
    const std::string& dir, CifarVariant variant, absl::string_view split);

// Reads the files into an [N, 3, 32, 32] data set. Errors name the file and
// byte offset: NOT_FOUND for a missing file, DATA_LOSS for a size that is not
// a whole number of records (the offset of the partial record) or a label out
// of range. Blocks on disk I/O. Thread-safe.
absl::StatusOr<std::shared_ptr<InMemoryImageDataset>> LoadCifarDataset(
    const CifarOptions& options);

}  // namespace pruneserve::data

#endif  // PRUNESERVE_CORE_DATA_CIFAR_READER_H_
