// The durable model repository: named, integer-versioned models whose bytes
// live in a content-addressed BlobStore and whose metadata lives in SQLite.
//
// Upload protocol: BeginUpload(header) validates the header and returns an
// UploadSession; the caller streams bytes with Append() and finishes with
// Commit(), which checks size, sha256 and format (through the ModelInspector
// registered for the format) before the bytes and then the metadata row
// become visible. A crash at any point leaves no half model visible; blobs
// left without a row are collected on the next Create(), but only when
// models.db opened with its schema: a lost or damaged index stops Create()
// instead, and RebuildIndex() is the recovery.
#ifndef PRUNESERVE_CORE_REPOSITORY_MODEL_REPOSITORY_H_
#define PRUNESERVE_CORE_REPOSITORY_MODEL_REPOSITORY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/metrics/repository_metrics.h"
#include "core/repository/model_inspector.h"
#include "core/storage/blob_store.h"
#include "core/storage/data_dir_lock.h"
#include "core/storage/model_metadata_store.h"
#include "pruneserve/v1/model.pb.h"
#include "pruneserve/v1/model_repository.pb.h"

namespace pruneserve {

class UploadSession;

struct ModelRepositoryOptions {
  // Directory holding models.db and blobs/. Created when missing.
  std::string data_dir = "./var/pruneserve";
  // Largest model accepted, in bytes. Larger uploads stop with
  // RESOURCE_EXHAUSTED as soon as they cross the limit.
  int64_t max_model_bytes = int64_t{2} << 30;
  // Longest description accepted, in bytes.
  int64_t max_description_bytes = 4096;
};

// Thread-safe. Owns its stores; borrows the inspectors' owner map and the
// metrics, which must outlive it.
class ModelRepository {
 public:
  using InspectorMap =
      std::map<v1::ModelFormat, std::unique_ptr<ModelInspector>>;

  // Locks options.data_dir for the repository's lifetime (FAILED_PRECONDITION
  // naming the directory when another process or repository holds it),
  // opens the stores under it, removes unreferenced blobs and refreshes the
  // totals gauges. When blobs are stored but models.db is missing, is not a
  // database or lacks the schema, fails with FAILED_PRECONDITION naming the
  // recovery (`pruneserve --rebuild_index`) and deletes nothing. `metrics`
  // may be null. Formats without an
  // inspector are rejected at upload with UNIMPLEMENTED.
  static absl::StatusOr<std::unique_ptr<ModelRepository>> Create(
      ModelRepositoryOptions options, InspectorMap inspectors,
      RepositoryMetrics* metrics);
  ~ModelRepository();

  // The recovery for a directory whose index was lost or damaged while
  // blobs remain: moves a models.db that does not open (with its -wal and
  // -shm) aside to models.db.damaged.<unix seconds>, opens or creates the
  // index, and moves every blob it does not list to
  // <data_dir>/lost+found/<sha256>. Never deletes. Returns how many blobs
  // were moved; FAILED_PRECONDITION while a server holds the directory.
  // Blocks on disk I/O.
  static absl::StatusOr<int> RebuildIndex(const std::string& data_dir);

  // Validates the header (INVALID_ARGUMENT naming the bad field;
  // UNIMPLEMENTED for a format this server cannot validate) and opens a temp
  // blob for the bytes.
  absl::StatusOr<std::unique_ptr<UploadSession>> BeginUpload(
      const v1::UploadModelHeader& header);

  // Stores an existing file (e.g. a job's output) as the next version of
  // header.name(), with lineage and report; runs the same checks as an
  // upload. Copies the file; the caller keeps it. Idempotent per job: when
  // lineage.job_id() is set and that job already registered a version of
  // header.name() in header.format(), returns that version and stores
  // nothing. Blocks.
  absl::StatusOr<v1::ModelVersion> AddFile(const v1::UploadModelHeader& header,
                                           const std::string& path,
                                           const v1::Lineage& lineage,
                                           const std::string& report);

  // version 0 = latest. NOT_FOUND when absent.
  absl::StatusOr<v1::ModelVersion> GetModel(const std::string& name,
                                            int64_t version) const;
  // All versions ordered by name and version; `name` filters when set.
  absl::StatusOr<std::vector<v1::ModelVersion>> ListModels(
      const std::string& name) const;
  // Deletes one version (or all with version 0); returns how many went.
  // NOT_FOUND when none matched. Frees blobs no other version uses.
  absl::StatusOr<int> DeleteModel(const std::string& name, int64_t version);

  // Path of the stored bytes of `model` (read-only; never write to it).
  // Unchecked: readers that load or serve the bytes use VerifiedBlobPath.
  std::string BlobPath(const v1::ModelVersion& model) const;

  // BlobPath after re-hashing the stored bytes against model.sha256().
  // DATA_LOSS naming name:version when they differ or are missing; the
  // errno-derived status on read errors. Blobs are immutable, so the path
  // stays valid to open after the check. Blocks reading the whole blob.
  absl::StatusOr<std::string> VerifiedBlobPath(
      const v1::ModelVersion& model) const;

  const ModelRepositoryOptions& options() const { return options_; }

 private:
  friend class UploadSession;
  ModelRepository(ModelRepositoryOptions options, InspectorMap inspectors,
                  RepositoryMetrics* metrics);

  absl::Status ValidateHeader(const v1::UploadModelHeader& header) const;
  // Runs the checks on a sealed writer and publishes blob + row.
  absl::StatusOr<v1::ModelVersion> Finish(BlobWriter& writer,
                                          const v1::UploadModelHeader& header,
                                          const v1::Lineage& lineage,
                                          const std::string& report);
  void RecordUpload(const absl::Status& status, int64_t bytes);
  void RefreshTotals();
  absl::Status CollectGarbage();

  const ModelRepositoryOptions options_;
  const InspectorMap inspectors_;
  RepositoryMetrics* const metrics_;
  // Declared first: released after everything under the directory closed.
  std::unique_ptr<DataDirLock> lock_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<ModelMetadataStore> metadata_;
  // Serialises "publish blob + insert row" against "delete row + free blob"
  // so a blob shared by two versions is never freed under a new upload.
  absl::Mutex publish_mu_;
};

// One upload in progress. Not thread-safe (one RPC drives it). Destroying it
// before Commit() discards the bytes and counts the upload as cancelled.
class UploadSession {
 public:
  ~UploadSession();
  UploadSession(const UploadSession&) = delete;
  UploadSession& operator=(const UploadSession&) = delete;

  // Appends a chunk. RESOURCE_EXHAUSTED once the total passes the size limit
  // (the temp file is removed at once and the session is dead). Blocks on
  // disk I/O.
  absl::Status Append(absl::string_view chunk);

  // Verifies and publishes the model. INVALID_ARGUMENT for an empty or
  // invalid model, DATA_LOSS for a sha256 mismatch. Blocks (loads the model).
  absl::StatusOr<v1::ModelVersion> Commit();

  int64_t bytes_received() const { return writer_->bytes_written(); }

 private:
  friend class ModelRepository;
  UploadSession(ModelRepository* repo, v1::UploadModelHeader header,
                std::unique_ptr<BlobWriter> writer);

  ModelRepository* repo_;
  v1::UploadModelHeader header_;
  std::unique_ptr<BlobWriter> writer_;
  bool done_ = false;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_REPOSITORY_MODEL_REPOSITORY_H_
