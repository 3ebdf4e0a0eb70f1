// SQLite-backed metadata for model versions (WAL mode, synchronous=FULL so an
// acknowledged upload survives a crash of the process or the machine).
//
// Version numbers per name are monotonic and never reused: a counter table
// remembers the last version handed out, even after deletions, so a client
// caching "resnet50:3" never silently gets different bytes.
#ifndef PRUNESERVE_CORE_STORAGE_MODEL_METADATA_STORE_H_
#define PRUNESERVE_CORE_STORAGE_MODEL_METADATA_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "pruneserve/v1/model.pb.h"

namespace SQLite {
class Database;
}

namespace pruneserve {

struct ModelMetadataStoreOptions {
  // Path of the SQLite database file; created when missing unless
  // must_exist.
  std::string path;
  // When true the file must already exist and hold the schema: Create()
  // fails with FAILED_PRECONDITION otherwise and creates nothing. The
  // repository sets it when blobs are stored, so that a lost or replaced
  // index is never taken for an empty one.
  bool must_exist = false;
};

// Totals over all stored versions.
struct MetadataTotals {
  int64_t versions = 0;
  int64_t models = 0;
  int64_t bytes = 0;  // sum of size_bytes (shared blobs counted per version)
  int64_t corrupt_versions = 0;  // versions marked corrupt
};

// Thread-safe: one connection guarded by a mutex; every call is a short
// transaction and blocks on SQLite's fsync.
class ModelMetadataStore {
 public:
  // Opens (or creates) the database and its schema; a database written by an
  // older release gets the columns it lacks, with their defaults. INTERNAL
  // naming the file when SQLite cannot open it; FAILED_PRECONDITION naming it
  // when options.must_exist and it is missing or has no schema.
  static absl::StatusOr<std::unique_ptr<ModelMetadataStore>> Create(
      ModelMetadataStoreOptions options);
  ~ModelMetadataStore();

  // Inserts `model` as the next version of model.name() and returns it with
  // `version` and `created_unix_ms` filled in. Concurrent inserts of one name
  // get distinct versions.
  absl::StatusOr<v1::ModelVersion> InsertNextVersion(v1::ModelVersion model);

  // Inserts `model` exactly as given (version, creation time, corrupt mark)
  // and raises the name's version counter to at least its version; used to
  // re-create rows of a lost index. ALREADY_EXISTS when that name and
  // version has a row.
  absl::Status RestoreVersion(const v1::ModelVersion& model);

  // Sets or clears the corrupt mark of every version whose bytes are the
  // blob `sha256` (a blob's content is shared by all of them). Returns how
  // many rows changed.
  absl::StatusOr<int> SetCorrupt(const std::string& sha256, bool corrupt);

  // Records the outcome of the upload checks of one version (`error` is
  // kept for MODEL_VALIDATION_FAILED). NOT_FOUND when the row is gone.
  absl::Status SetValidation(const std::string& name, int64_t version,
                             v1::ModelValidation validation,
                             const std::string& error);

  // One version; version 0 means the latest. NOT_FOUND naming what is
  // missing.
  absl::StatusOr<v1::ModelVersion> Get(const std::string& name,
                                       int64_t version) const;

  // The version of `name` in `format` that job `job_id` registered (its
  // lineage.job_id), the lowest if several; nullopt when there is none.
  absl::StatusOr<std::optional<v1::ModelVersion>> FindJobResult(
      const std::string& name, v1::ModelFormat format,
      const std::string& job_id) const;

  // All versions, ordered by name then version; only `name`'s when non-empty.
  absl::StatusOr<std::vector<v1::ModelVersion>> List(
      const std::string& name) const;

  // Deletes one version (or all when version == 0) and returns the deleted
  // rows. NOT_FOUND when nothing matched.
  absl::StatusOr<std::vector<v1::ModelVersion>> Delete(const std::string& name,
                                                       int64_t version);

  // Number of versions whose bytes are the blob `sha256`.
  absl::StatusOr<int64_t> CountBlobReferences(const std::string& sha256) const;

  // Every sha256 referenced by some version.
  absl::StatusOr<std::vector<std::string>> ReferencedBlobs() const;

  absl::StatusOr<MetadataTotals> Totals() const;

 private:
  explicit ModelMetadataStore(std::unique_ptr<SQLite::Database> db);

  mutable absl::Mutex mu_;
  std::unique_ptr<SQLite::Database> db_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_STORAGE_MODEL_METADATA_STORE_H_
