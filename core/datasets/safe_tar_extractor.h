// Extraction of an uploaded tar archive into a fresh directory, trusting
// nothing in it. Every entry is checked before any of its bytes are written:
// its path must be relative, made of plain components (no "..", no ".",
// nothing empty after a leading "./"), and it must be a regular file or a
// directory — symbolic links, hard links, devices, FIFOs and sockets are
// refused. The number of entries and the total decoded size are capped
// (the size an entry's header declares counts before its data is read, so
// a compressed bomb is refused without writing it). Files are created with
// O_EXCL | O_NOFOLLOW under directories this code made itself, so nothing
// can land outside the destination. Compression (gzip, bzip2, xz, zstd...)
// is detected by libarchive.
#ifndef PRUNESERVE_CORE_DATASETS_SAFE_TAR_EXTRACTOR_H_
#define PRUNESERVE_CORE_DATASETS_SAFE_TAR_EXTRACTOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace pruneserve::datasets {

struct TarLimits {
  // Most entries (files and directories) an archive may hold
  // (--dataset_max_entries).
  int64_t max_entries = 200000;
  // Most bytes the extracted files may hold together, as declared and as
  // read (--dataset_max_extracted_mb).
  int64_t max_extracted_bytes = int64_t{8} << 30;
  // Longest entry path in bytes.
  int64_t max_path_bytes = 1024;
};

struct ExtractedFiles {
  // Relative paths of the regular files, in archive order.
  std::vector<std::string> files;
  // Bytes written.
  int64_t bytes = 0;
};

// Extracts `archive_path` into `dest_dir`, which must exist and be empty.
// INVALID_ARGUMENT naming the entry for a refused path or type, a duplicate
// entry or an archive libarchive cannot read (not a tar, truncated);
// RESOURCE_EXHAUSTED naming the limit's flag when a cap is crossed (what was
// written so far stays in dest_dir for the caller to remove); the
// errno-derived status on I/O errors. Every file is fsynced, and every
// directory too, before returning OK. Blocks on disk I/O. Thread-safe.
absl::StatusOr<ExtractedFiles> ExtractTarSafely(const std::string& archive_path,
                                                const std::string& dest_dir,
                                                const TarLimits& limits = {});

}  // namespace pruneserve::datasets

#endif  // PRUNESERVE_CORE_DATASETS_SAFE_TAR_EXTRACTOR_H_
