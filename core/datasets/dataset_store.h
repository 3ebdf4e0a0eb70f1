// The durable store of data sets uploaded through the API: named,
// integer-versioned data sets indexed in SQLite (datasets.db), their files
// extracted into a directory core/data's readers open directly.
//
// Layout under `root` (normally <data_dir>/datasets):
//   datasets.db                      the index: one row per version
//   tmp/<random>                     archives being uploaded (BlobStore)
//   extracted/<sha256>.<format>[.<split>]
//                                    the files of a stored data set, named
//                                    by the uploaded archive's sha256 (and
//                                    what was declared about it), shared by
//                                    versions with the same content
//   extracted/tmp.<random>           an extraction or removal in progress
//
// Upload protocol, as for models: BeginUpload(header) checks the header,
// Append() streams the archive into tmp/ while hashing it, and Commit()
// extracts it into extracted/tmp.<random> (safe_tar_extractor.h: no entry
// outside it, caps on entries and size), validates the files
// (dataset_validator.h), fsyncs them, renames the directory to its content
// address, fsyncs extracted/, and only then inserts the row. The archive
// itself is not kept. A crash at any point leaves no half data set
// visible: Create() wipes tmp directories and directories no row names.
#ifndef PRUNESERVE_CORE_DATASETS_DATASET_STORE_H_
#define PRUNESERVE_CORE_DATASETS_DATASET_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/datasets/safe_tar_extractor.h"
#include "core/storage/blob_store.h"
#include "pruneserve/v1/datasets.pb.h"

namespace SQLite {
class Database;
}

namespace pruneserve::datasets {

class DatasetUpload;

struct DatasetStoreOptions {
  // Directory holding datasets.db, tmp/ and extracted/. Created when
  // missing. The caller keeps other processes out of it (the server holds
  // the data directory's lock through its ModelRepository).
  std::string root;
  // Largest archive accepted as uploaded, in bytes
  // (--dataset_max_upload_mb); larger uploads stop with RESOURCE_EXHAUSTED
  // as soon as they cross it.
  int64_t max_archive_bytes = int64_t{4} << 30;
  // Entry count and extracted-size caps of an archive.
  TarLimits tar_limits;
  // Longest description accepted, in bytes.
  int64_t max_description_bytes = 4096;
};

// Thread-safe: the index sits behind a mutex, and publishing a directory
// and deleting one are serialised so a directory shared by two versions is
// never removed under a new upload. Uploads stream and extract in parallel.
class DatasetStore {
 public:
  // Called by Delete() with the directory of a data set about to be
  // removed; a non-OK status (FAILED_PRECONDITION naming the job that
  // reads it) stops the delete.
  using RemovalCheck = std::function<absl::Status(const std::string& dir)>;

  // Creates the directories, removes leftovers of interrupted uploads and
  // directories no row names, and opens the index. Errors name the path.
  static absl::StatusOr<std::unique_ptr<DatasetStore>> Create(
      DatasetStoreOptions options);
  ~DatasetStore();

  // Checks the header (INVALID_ARGUMENT naming the field: name, format,
  // description, expected_sha256, split) and opens a temp file.
  absl::StatusOr<std::unique_ptr<DatasetUpload>> BeginUpload(
      const v1::UploadDatasetHeader& header);

  // version 0 = latest. NOT_FOUND naming the data set when absent.
  absl::StatusOr<v1::Dataset> Get(const std::string& name,
                                  int64_t version) const;
  // All versions ordered by name and version; `name` filters when set.
  absl::StatusOr<std::vector<v1::Dataset>> List(const std::string& name) const;
  // Deletes one version (or all with version 0) and returns how many went.
  // NOT_FOUND when none matched. Directories no remaining version uses are
  // removed, after `check` (may be empty) allowed each. Blocks on disk I/O.
  absl::StatusOr<int> Delete(const std::string& name, int64_t version,
                             const RemovalCheck& check = nullptr);

  // Directory holding the files of the stored version `dataset` names
  // (read-only; never write). NOT_FOUND when that version is gone.
  absl::StatusOr<std::string> DirectoryOf(const v1::Dataset& dataset) const;

  const DatasetStoreOptions& options() const { return options_; }

 private:
  friend class DatasetUpload;
  explicit DatasetStore(DatasetStoreOptions options);

  // Extracts, validates and publishes a sealed upload.
  absl::StatusOr<v1::Dataset> Finish(BlobWriter& writer,
                                     const v1::UploadDatasetHeader& header);
  absl::Status CollectGarbage();
  std::string extracted_dir() const { return options_.root + "/extracted"; }

  const DatasetStoreOptions options_;
  std::unique_ptr<BlobStore> uploads_;
  mutable absl::Mutex db_mu_;
  std::unique_ptr<SQLite::Database> db_ ABSL_GUARDED_BY(db_mu_);
  // Serialises "rename directory + insert row" against "delete rows +
  // remove directory". Taken before db_mu_.
  absl::Mutex publish_mu_;
};

// One upload in progress. Not thread-safe (one RPC drives it). Destroying
// it before Commit() discards the bytes.
class DatasetUpload {
 public:
  ~DatasetUpload();
  DatasetUpload(const DatasetUpload&) = delete;
  DatasetUpload& operator=(const DatasetUpload&) = delete;

  // Appends a chunk of the archive. RESOURCE_EXHAUSTED once the total
  // passes max_archive_bytes (the temp file is removed at once and the
  // upload is dead). Blocks on disk I/O.
  absl::Status Append(absl::string_view chunk);

  // Extracts, validates and publishes the data set. INVALID_ARGUMENT for an
  // empty upload, a refused entry or invalid files; RESOURCE_EXHAUSTED for
  // a cap; DATA_LOSS for a sha256 mismatch. Blocks (reads every byte).
  absl::StatusOr<v1::Dataset> Commit();

  int64_t bytes_received() const { return writer_->bytes_written(); }

 private:
  friend class DatasetStore;
  DatasetUpload(DatasetStore* store, v1::UploadDatasetHeader header,
                std::unique_ptr<BlobWriter> writer);

  DatasetStore* store_;
  v1::UploadDatasetHeader header_;
  std::unique_ptr<BlobWriter> writer_;
  bool done_ = false;
};

}  // namespace pruneserve::datasets

#endif  // PRUNESERVE_CORE_DATASETS_DATASET_STORE_H_
