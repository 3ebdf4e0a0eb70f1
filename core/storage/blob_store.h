// Content-addressed storage for model bytes.
//
// Layout under `root`:
//   blobs/<aa>/<sha256>   immutable, named by the sha256 of their content
//   tmp/<random>          uploads in progress; wiped on Create()
//
// A blob becomes visible only through rename() after its bytes are fsynced, so
// a crash at any point leaves either no blob or a whole one. Two uploads of the
// same bytes share one blob.
#ifndef PRUNESERVE_CORE_STORAGE_BLOB_STORE_H_
#define PRUNESERVE_CORE_STORAGE_BLOB_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/util/sha256.h"

namespace pruneserve {

struct BlobStoreOptions {
  // Directory that holds blobs/ and tmp/. Created when missing.
  std::string root;
};

class BlobWriter;

// Thread-safe: methods touch only the file system, and writers are
// independent. Owns no open files; each BlobWriter owns its temp file.
class BlobStore {
 public:
  // Creates the directories and removes leftovers of interrupted uploads.
  // Fails with the errno-derived status when the root is unusable.
  static absl::StatusOr<std::unique_ptr<BlobStore>> Create(
      BlobStoreOptions options);

  // Starts a new upload into a fresh temp file.
  absl::StatusOr<std::unique_ptr<BlobWriter>> NewWriter();

  // Path of the blob named `sha256` (whether or not it exists).
  std::string PathFor(absl::string_view sha256) const;

  // True when the blob exists.
  bool Contains(absl::string_view sha256) const;

  // Re-hashes the stored blob and compares with its name. OK when they
  // match; DATA_LOSS naming both digests when they differ; NOT_FOUND when
  // the blob is absent; the errno-derived status on read errors. Blocks
  // reading the whole blob.
  absl::Status Verify(absl::string_view sha256) const;

  // Size of a stored blob; NOT_FOUND when absent.
  absl::StatusOr<int64_t> SizeOf(absl::string_view sha256) const;

  // Deletes a blob; OK when it was already gone.
  absl::Status Remove(absl::string_view sha256);

  // Every stored blob's sha256.
  std::vector<std::string> List() const;

  const std::string& root() const { return options_.root; }
  std::string tmp_dir() const { return options_.root + "/tmp"; }

 private:
  explicit BlobStore(BlobStoreOptions options);
  BlobStoreOptions options_;
};

// Streams bytes into a temp file while hashing them. Seal() makes the bytes
// durable and returns their sha256; Commit() publishes the blob. A writer that
// is destroyed before Commit() deletes its temp file. Not thread-safe.
class BlobWriter {
 public:
  ~BlobWriter();
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;

  // Appends bytes. Blocks on the write. INTERNAL/RESOURCE_EXHAUSTED on I/O
  // errors, FAILED_PRECONDITION after Seal().
  absl::Status Append(absl::string_view bytes);

  // fsyncs and closes the temp file and returns the lower-case hex sha256.
  absl::StatusOr<std::string> Seal();

  // Moves the sealed file to its content address and fsyncs the directory.
  // When a blob of that name exists and verifies, keeps it and drops the
  // temp file; an existing blob that does not verify (rotted or truncated)
  // is replaced by the new bytes. FAILED_PRECONDITION before Seal().
  absl::Status Commit();

  // Deletes the temp file now. Safe to call more than once.
  void Abort();

  int64_t bytes_written() const { return bytes_written_; }
  // The temp file; readable after Seal() (e.g. for validation).
  const std::string& temp_path() const { return temp_path_; }

 private:
  friend class BlobStore;
  BlobWriter(BlobStore* store, std::string temp_path, int fd);

  BlobStore* store_;
  std::string temp_path_;
  int fd_;
  Sha256Hasher hasher_;
  std::string sha256_;
  int64_t bytes_written_ = 0;
  bool sealed_ = false;
  bool committed_ = false;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_STORAGE_BLOB_STORE_H_
