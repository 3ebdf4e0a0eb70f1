// IDX files (MNIST, Fashion-MNIST; see core/data/idx_file.h for the format
// and its errors) as an in-memory data set of tensors.
#ifndef PRUNESERVE_CORE_DATA_IDX_READER_H_
#define PRUNESERVE_CORE_DATA_IDX_READER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "core/data/idx_file.h"
#include "core/data/image_dataset.h"

namespace pruneserve::data {

// Reads both files with ReadIdxFiles (same errors); images come out as
// uint8 [N, 1, rows, cols] sharing the bytes read, labels as int64 [N].
// Blocks on disk I/O. Thread-safe.
absl::StatusOr<std::shared_ptr<InMemoryImageDataset>> LoadIdxDataset(
    const IdxOptions& options);

}  // namespace pruneserve::data

#endif  // PRUNESERVE_CORE_DATA_IDX_READER_H_
