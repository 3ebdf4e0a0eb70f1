// Version records: one small file per stored model version, kept beside the
// blobs under <data_dir>/records/<name>/<version>.pb, holding the version's
// metadata (a serialized pruneserve.v1.ModelVersion).
//
// models.db is the index the server reads; the records are what lets
// `pruneserve --rebuild_index` re-create its rows when models.db is lost,
// since the blobs themselves are named by content only and a TorchScript or
// xmodel archive does not carry the name, version or lineage it was stored
// under. A record is written after its row is committed and removed after
// its row is deleted; start-up reconciles the two when models.db opened
// cleanly (rows without a record get one, records without a row go).
#ifndef PRUNESERVE_CORE_REPOSITORY_VERSION_RECORD_STORE_H_
#define PRUNESERVE_CORE_REPOSITORY_VERSION_RECORD_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pruneserve/v1/model.pb.h"

namespace pruneserve {

struct VersionRecordStoreOptions {
  // Directory holding one subdirectory per model name. Created when
  // missing.
  std::string root;
};

// The records found by List(), and what could not be read.
struct VersionRecordListing {
  std::vector<v1::ModelVersion> records;
  // Paths of files under root that are not a parseable record of the
  // name and version their path says, with a well-formed sha256.
  std::vector<std::string> unreadable;
};

// Thread-safe: every method touches only the file system, and two callers
// never write the same record (a name:version is stored once). Owns no open
// files.
class VersionRecordStore {
 public:
  // Creates the root directory. The errno-derived status when it cannot.
  static absl::StatusOr<std::unique_ptr<VersionRecordStore>> Create(
      VersionRecordStoreOptions options);

  // Writes (or replaces) the record of model.name():model.version()
  // atomically and durably; the corrupt mark is not recorded, since it
  // describes the blob, not the version. Blocks on fsync.
  absl::Status Write(const v1::ModelVersion& model);

  // Removes one record; OK when it was not there. Blocks on fsync.
  absl::Status Remove(const std::string& name, int64_t version);

  // Every record under the root, in no particular order. Blocks on reads.
  VersionRecordListing List() const;

  // Where the record of name:version lives (whether or not it exists).
  std::string PathFor(const std::string& name, int64_t version) const;

 private:
  explicit VersionRecordStore(VersionRecordStoreOptions options)
      : options_(std::move(options)) {}

  const VersionRecordStoreOptions options_;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_REPOSITORY_VERSION_RECORD_STORE_H_
