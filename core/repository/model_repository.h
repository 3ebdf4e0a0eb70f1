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
// instead, and RebuildIndex() is the recovery. Every version also has a
// record file beside the blobs (version_record_store.h) from which
// RebuildIndex() re-creates its row.
//
// Integrity: loads and downloads re-hash the bytes (VerifiedBlobPath), and
// VerifyModels() does so for many versions at once (prunectl model verify,
// the background scrub). Bytes found missing or altered mark every version
// stored in that blob corrupt in models.db; such versions are refused with
// DATA_LOSS until the same bytes are uploaded again, which replaces the
// blob and clears the mark, or they are deleted.
//
// Validation: every row records whether its bytes passed the format's
// upload checks (ModelVersion.validation; for TorchScript the sandboxed
// validator). Loads for inference and jobs go through LoadableBlobPath(),
// which checks a version stored by an older release before its first load
// and records the outcome, so nothing is loaded that has not passed. At
// most max_concurrent_validations checks run at once.
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
#include "absl/time/time.h"
#include "core/metrics/repository_metrics.h"
#include "core/repository/model_inspector.h"
#include "core/repository/version_record_store.h"
#include "core/storage/blob_store.h"
#include "core/storage/data_dir_lock.h"
#include "core/storage/model_metadata_store.h"
#include "pruneserve/v1/model.pb.h"
#include "pruneserve/v1/model_repository.pb.h"

namespace pruneserve {

class UploadSession;

// What RebuildIndex() did.
struct RebuildIndexSummary {
  // Rows re-created from version records.
  int restored_versions = 0;
  // Version records not restored because the blob they name is gone
  // (or their name:version already had a row).
  int records_skipped = 0;
  // Record files that could not be parsed (left where they are).
  int unreadable_records = 0;
  // Blobs that no row or record names, moved to <data_dir>/lost+found/.
  int moved_to_lost_found = 0;
  // Where a models.db that did not open was moved; empty when none was.
  std::string damaged_index_moved_to;
};

struct ModelRepositoryOptions {
  // Directory holding models.db and blobs/. Created when missing.
  std::string data_dir = "./var/pruneserve";
  // Largest model accepted, in bytes. Larger uploads stop with
  // RESOURCE_EXHAUSTED as soon as they cross the limit.
  int64_t max_model_bytes = int64_t{2} << 30;
  // Longest description accepted, in bytes.
  int64_t max_description_bytes = 4096;
  // Runs of the upload checks (the format's ModelInspector; for TorchScript
  // a validator process of up to --validator_memory_mb) allowed at once
  // (--max_concurrent_validations); more wait for a slot.
  int max_concurrent_validations = 2;
  // Longest wait for a slot; past it the upload or load fails with
  // RESOURCE_EXHAUSTED naming max_concurrent_validations.
  absl::Duration validation_slot_wait = absl::Seconds(120);
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
  // -shm; or stray -wal/-shm of a missing one) aside to
  // models.db.damaged.<unix seconds>, opens or creates the index, re-creates
  // the row of every version record whose blob is stored and whose
  // name:version has no row (its version counter included), and moves every
  // blob still unlisted to <data_dir>/lost+found/<sha256>. Never deletes.
  // FAILED_PRECONDITION while a server holds the directory. Blocks on disk
  // I/O.
  static absl::StatusOr<RebuildIndexSummary> RebuildIndex(
      const std::string& data_dir);

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
  // nothing. Waits for a check slot as long as it takes: a job's result
  // is not given up for a burst of uploads. Blocks.
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
  // DATA_LOSS naming name:version when the version is marked corrupt (no
  // re-hash then) or the bytes differ or are missing, which also marks it
  // (and every version sharing the blob) corrupt; the errno-derived status
  // on read errors. Blobs are immutable, so the path stays valid to open
  // after the check. Blocks reading the whole blob.
  absl::StatusOr<std::string> VerifiedBlobPath(
      const v1::ModelVersion& model) const;

  // The path to load `model` from for inference or a job: VerifiedBlobPath
  // (same errors), and the upload checks passed. A version stored by a
  // release that did not record validation (MODEL_VALIDATION_UNSPECIFIED)
  // is checked now, under the same slot cap as uploads, and the outcome is
  // recorded in its row. FAILED_PRECONDITION naming the version and the
  // reason when it failed the checks (now or earlier); RESOURCE_EXHAUSTED
  // when no check slot freed in time; INTERNAL (nothing recorded) when the
  // check could not run. Blocks reading the blob and while the check runs.
  absl::StatusOr<std::string> LoadableBlobPath(
      const v1::ModelVersion& model) const;

  // Re-hashes the blobs of the selected versions (all with an empty name;
  // every version of `name` with version 0) and reports each version as
  // ok, corrupt or missing, ordered by name and version. Marks the bad ones
  // corrupt and clears the mark of versions whose bytes verify again (e.g.
  // restored from a backup). INVALID_ARGUMENT for a bad name or negative
  // version, NOT_FOUND when a name was given and nothing matched, the
  // errno-derived status when a blob cannot be read for another reason.
  // Blocks reading every selected blob whole; safe beside uploads, loads
  // and deletes.
  absl::StatusOr<std::vector<v1::VersionIntegrity>> VerifyModels(
      const std::string& name, int64_t version) const;

  const ModelRepositoryOptions& options() const { return options_; }

 private:
  friend class UploadSession;
  ModelRepository(ModelRepositoryOptions options, InspectorMap inspectors,
                  RepositoryMetrics* metrics);

  absl::Status ValidateHeader(const v1::UploadModelHeader& header) const;
  // Runs the format's inspector on `path`, filling `model`, once a check
  // slot is free (RESOURCE_EXHAUSTED naming max_concurrent_validations
  // after `slot_wait`); counts it in the metrics.
  absl::Status RunChecks(const std::string& path, v1::ModelVersion* model,
                         absl::Duration slot_wait) const;
  // Runs the checks on a sealed writer (waiting up to `slot_wait` for a
  // check slot) and publishes blob + row.
  absl::StatusOr<v1::ModelVersion> Finish(BlobWriter& writer,
                                          const v1::UploadModelHeader& header,
                                          const v1::Lineage& lineage,
                                          const std::string& report,
                                          absl::Duration slot_wait);
  void RecordUpload(const absl::Status& status, int64_t bytes);
  void RefreshTotals() const;
  absl::Status CollectGarbage();
  // Writes missing version records and removes those without a row.
  absl::Status ReconcileRecords();
  // Re-hashes blob `sha256`: marks its versions corrupt when the bytes are
  // missing or altered, and clears the mark when they verify and `marked`
  // (some version of it is marked). Returns the integrity found and, when
  // not OK, what was found in `detail`; an error for read failures other
  // than a missing file.
  absl::StatusOr<v1::BlobIntegrity> CheckBlob(const std::string& sha256,
                                              bool marked,
                                              std::string* detail) const;

  const ModelRepositoryOptions options_;
  const InspectorMap inspectors_;
  RepositoryMetrics* const metrics_;
  // Declared first: released after everything under the directory closed.
  std::unique_ptr<DataDirLock> lock_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<ModelMetadataStore> metadata_;
  std::unique_ptr<VersionRecordStore> records_;
  // Serialises "publish blob + insert row" against "delete row + free blob"
  // so a blob shared by two versions is never freed under a new upload,
  // and a corrupt mark against the upload that repairs the blob.
  mutable absl::Mutex publish_mu_;
  // Check slots in use (RunChecks).
  mutable absl::Mutex checks_mu_;
  mutable int checks_running_ ABSL_GUARDED_BY(checks_mu_) = 0;
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
