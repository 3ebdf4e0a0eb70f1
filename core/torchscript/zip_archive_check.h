// Structural checks of an uploaded TorchScript archive, done on the raw zip
// bytes before anything hands the file to LibTorch.
//
// A TorchScript archive is a zip file (PyTorch writes tensors STORED, 64-byte
// aligned, and source files DEFLATEd). LibTorch's reader allocates every
// record at the size its central-directory entry declares, so a small upload
// can declare gigabytes (a "zip bomb"). CheckZipArchive() reads only the
// central directory and the local headers, sums the declared sizes against a
// cap and refuses the archive before any of it is inflated into memory by
// the loader. It also inflates each DEFLATEd entry once through a bounded
// buffer, so an entry that inflates to more (or less) than it declares is
// refused too, and it refuses encryption, unknown compression methods,
// entries whose data overlap or run past the central directory, and
// archives without a "<name>/data.pkl" record.
//
// Example:
//   ZipArchiveLimits limits;
//   limits.max_uncompressed_bytes = int64_t{256} << 20;
//   absl::StatusOr<ZipArchiveSummary> s = CheckZipArchive(path, limits);
#ifndef PRUNESERVE_CORE_TORCHSCRIPT_ZIP_ARCHIVE_CHECK_H_
#define PRUNESERVE_CORE_TORCHSCRIPT_ZIP_ARCHIVE_CHECK_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace pruneserve {

struct ZipArchiveLimits {
  // Largest sum of the entries' uncompressed sizes. The server sets it from
  // --max_model_mb, so the model size limit holds after decompression too.
  int64_t max_uncompressed_bytes = int64_t{2} << 30;
  // Most entries (files) in one archive. PyTorch writes one per tensor
  // storage plus a handful, so ResNet-50 has about 330.
  int64_t max_entries = 100000;
  // Largest central directory read into memory.
  int64_t max_central_directory_bytes = int64_t{64} << 20;
};

// What the check learned about a well-formed archive.
struct ZipArchiveSummary {
  // Number of entries.
  int64_t entries = 0;
  // Sum of the entries' uncompressed sizes.
  int64_t uncompressed_bytes = 0;
  // The archive's top-level folder, e.g. "resnet18" for
  // "resnet18/data.pkl".
  std::string root;
};

// Checks the zip file at `path` as described above. Returns
//   RESOURCE_EXHAUSTED  (with the limit name as an ExceededLimit payload:
//                       "max_model_bytes" or "max_model_zip_entries") when
//                       the entries or their uncompressed sizes exceed
//                       `limits`;
//   INVALID_ARGUMENT    "not a loadable TorchScript archive: ..." naming the
//                       problem when the file is not a well-formed zip or
//                       has no data.pkl;
//   an errno-derived status when the file cannot be read.
// Blocks reading the central directory and inflating DEFLATEd entries
// (STORED tensor data is not read).
absl::StatusOr<ZipArchiveSummary> CheckZipArchive(
    const std::string& path, const ZipArchiveLimits& limits);

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_TORCHSCRIPT_ZIP_ARCHIVE_CHECK_H_
