#include "core/datasets/dataset_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/datasets/dataset_validator.h"
#include "core/repository/model_name.h"
#include "core/spec/dataset_format_names.h"
#include "core/storage/sqlite_database.h"
#include "core/util/file_util.h"
#include "core/util/limit_status.h"
#include "core/util/status_macros.h"

namespace pruneserve::datasets {
namespace {

namespace fs = std::filesystem;

constexpr char kSchema[] = R"SQL(
CREATE TABLE IF NOT EXISTS dataset_counters (
  name TEXT PRIMARY KEY,
  last_version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dataset_versions (
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  storage_key TEXT NOT NULL,
  record BLOB NOT NULL,
  PRIMARY KEY (name, version)
);
CREATE INDEX IF NOT EXISTS dataset_versions_key
  ON dataset_versions(storage_key);
)SQL";

absl::Status SqlError(const std::exception& e, absl::string_view what) {
  return absl::InternalError(
      absl::StrCat("data set index ", what, ": ", e.what()));
}

absl::StatusOr<v1::Dataset> RowToDataset(SQLite::Statement& q, int column) {
  SQLite::Column blob = q.getColumn(column);
  v1::Dataset d;
  if (!d.ParseFromArray(blob.getBlob(), blob.getBytes())) {
    return absl::DataLossError("data set index: a row does not parse");
  }
  return d;
}

// Directory name of stored files: the archive's sha256 plus what the
// header declared that changes the layout (format, an IDX split hint).
std::string StorageKey(const v1::Dataset& d, absl::string_view split_hint) {
  std::string key =
      absl::StrCat(d.sha256(), ".", spec::DatasetFormatName(d.format()));
  if (!split_hint.empty()) absl::StrAppend(&key, ".", split_hint);
  return key;
}

absl::Status NotFound(const std::string& name, int64_t version) {
  return absl::NotFoundError(
      version > 0
          ? absl::StrCat("data set ", name, " version ", version, " not found")
          : absl::StrCat("data set ", name, " not found"));
}

bool IsLowerHexSha256(absl::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) ||
        absl::ascii_isupper(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

// Moves `dir` aside to a tmp name first, so a removal cut short by a crash
// leaves nothing under a content address; Create() wipes the rest.
absl::Status RemoveTree(const std::string& extracted, const std::string& dir) {
  std::string aside = absl::StrCat(extracted, "/tmp.rm.XXXXXX");
  if (::mkdtemp(aside.data()) == nullptr) {
    return ErrnoToStatus(errno, absl::StrCat("mkdtemp in ", extracted));
  }
  const std::string target = absl::StrCat(aside, "/d");
  if (std::rename(dir.c_str(), target.c_str()) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("rename ", dir));
  }
  PS_RETURN_IF_ERROR(FsyncDirectory(extracted));
  std::error_code ec;
  fs::remove_all(aside, ec);
  return absl::OkStatus();
}

}  // namespace

DatasetStore::DatasetStore(DatasetStoreOptions options)
    : options_(std::move(options)) {}

DatasetStore::~DatasetStore() = default;

absl::StatusOr<std::unique_ptr<DatasetStore>> DatasetStore::Create(
    DatasetStoreOptions options) {
  if (options.root.empty()) {
    return absl::InvalidArgumentError("data set store: root is empty");
  }
  if (options.max_archive_bytes <= 0 || options.tar_limits.max_entries <= 0 ||
      options.tar_limits.max_extracted_bytes <= 0) {
    return absl::InvalidArgumentError(
        "data set store: size and entry limits must be positive");
  }
  auto store = std::unique_ptr<DatasetStore>(new DatasetStore(options));
  PS_RETURN_IF_ERROR(MakeDirectoriesDurably(store->extracted_dir()));
  PS_ASSIGN_OR_RETURN(store->uploads_, BlobStore::Create({options.root}));
  SqliteOpenOptions open;
  open.path = options.root + "/datasets.db";
  open.schema = kSchema;
  open.error_prefix = absl::StrCat("open data set index ", open.path);
  PS_ASSIGN_OR_RETURN(auto db, OpenSqliteDatabase(open));
  {
    absl::MutexLock lock(&store->db_mu_);
    store->db_ = std::move(db);
  }
  PS_RETURN_IF_ERROR(store->CollectGarbage());
  return store;
}

absl::Status DatasetStore::CollectGarbage() {
  std::set<std::string> keys;
  {
    absl::MutexLock lock(&db_mu_);
    try {
      SQLite::Statement q(*db_,
                          "SELECT DISTINCT storage_key FROM dataset_versions");
      while (q.executeStep()) keys.insert(q.getColumn(0).getString());
    } catch (const std::exception& e) {
      return SqlError(e, "list directories");
    }
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(extracted_dir(), ec)) {
    const std::string name = entry.path().filename().string();
    if (keys.count(name)) continue;
    std::error_code rm;
    fs::remove_all(entry.path(), rm);
    if (rm) {
      return absl::InternalError(absl::StrCat("data set store: cannot remove ",
                                              entry.path().string(), ": ",
                                              rm.message()));
    }
  }
  if (ec) {
    return absl::InternalError(absl::StrCat(
        "data set store: cannot list ", extracted_dir(), ": ", ec.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DatasetUpload>> DatasetStore::BeginUpload(
    const v1::UploadDatasetHeader& header) {
  if (absl::Status s = ValidateModelName(header.name()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "header.name: ",
        absl::StrReplaceAll(s.message(), {{"model name", "data set name"}})));
  }
  if (spec::DatasetFormatName(header.format()).empty()) {
    return absl::InvalidArgumentError(
        "header.format: required (MNIST, FASHION_MNIST, CIFAR10, CIFAR100 or "
        "IMAGEFOLDER)");
  }
  if (static_cast<int64_t>(header.description().size()) >
      options_.max_description_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("header.description: ", header.description().size(),
                     " bytes; the limit is ", options_.max_description_bytes));
  }
  if (!header.expected_sha256().empty() &&
      !IsLowerHexSha256(header.expected_sha256())) {
    return absl::InvalidArgumentError(
        "header.expected_sha256: not 64 lower-case hex digits");
  }
  if (!header.split().empty()) {
    if (header.format() != v1::DATASET_FORMAT_MNIST &&
        header.format() != v1::DATASET_FORMAT_FASHION_MNIST) {
      return absl::InvalidArgumentError(
          "header.split: applies to IDX uploads (MNIST, FASHION_MNIST) only");
    }
    if (header.split() != "train" && header.split() != "test") {
      return absl::InvalidArgumentError(
          "header.split: must be \"train\" or \"test\"");
    }
  }
  PS_ASSIGN_OR_RETURN(auto writer, uploads_->NewWriter());
  return std::unique_ptr<DatasetUpload>(
      new DatasetUpload(this, header, std::move(writer)));
}

absl::StatusOr<v1::Dataset> DatasetStore::Finish(
    BlobWriter& writer, const v1::UploadDatasetHeader& header) {
  if (writer.bytes_written() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("data set \"", header.name(), "\": the upload is empty"));
  }
  PS_ASSIGN_OR_RETURN(const std::string sha256, writer.Seal());
  if (!header.expected_sha256().empty() && header.expected_sha256() != sha256) {
    return absl::DataLossError(absl::StrCat(
        "data set \"", header.name(), "\": the archive's sha256 is ", sha256,
        ", the header expected ", header.expected_sha256()));
  }
  std::string work = extracted_dir() + "/tmp.XXXXXX";
  if (::mkdtemp(work.data()) == nullptr) {
    return ErrnoToStatus(errno, absl::StrCat("mkdtemp in ", extracted_dir()));
  }
  // Removes the extraction on every path that does not publish it.
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      if (!dir.empty()) {
        std::error_code ec;
        fs::remove_all(dir, ec);
      }
    }
  } cleanup{work};
  auto prefixed = [&](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat("data set \"", header.name(),
                                               "\": ", s.message()));
  };
  auto files = ExtractTarSafely(writer.temp_path(), work, options_.tar_limits);
  // The archive is not kept: the extracted files are what jobs read.
  writer.Abort();
  if (!files.ok()) {
    absl::Status s = prefixed(files.status());
    if (auto limit = ExceededLimit(files.status())) {
      return LimitExceededError(s.code(), *limit, s.message());
    }
    return s;
  }
  auto splits =
      ValidateDatasetFiles(work, files->files, header.format(), header.split());
  if (!splits.ok()) return prefixed(splits.status());

  v1::Dataset dataset;
  dataset.set_name(header.name());
  dataset.set_format(header.format());
  dataset.set_description(header.description());
  dataset.set_sha256(sha256);
  dataset.set_archive_bytes(writer.bytes_written());
  dataset.set_stored_bytes(files->bytes);
  dataset.set_files(static_cast<int64_t>(files->files.size()));
  for (auto& s : *splits) *dataset.add_splits() = std::move(s);
  const std::string key = StorageKey(dataset, header.split());
  const std::string final_dir = absl::StrCat(extracted_dir(), "/", key);

  absl::MutexLock publish(&publish_mu_);
  std::error_code ec;
  if (!fs::exists(final_dir, ec)) {
    if (std::rename(work.c_str(), final_dir.c_str()) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("rename ", work));
    }
    cleanup.dir.clear();
    PS_RETURN_IF_ERROR(FsyncDirectory(extracted_dir()));
  }
  // Otherwise the same archive, declared the same way, is stored already:
  // its directory holds the same files.
  absl::MutexLock lock(&db_mu_);
  try {
    SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    int64_t last = 0;
    {
      SQLite::Statement q(
          *db_, "SELECT last_version FROM dataset_counters WHERE name=?");
      q.bind(1, dataset.name());
      if (q.executeStep()) last = q.getColumn(0).getInt64();
    }
    dataset.set_version(last + 1);
    dataset.set_created_unix_ms(
        std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count());
    SQLite::Statement up(*db_,
                         "INSERT INTO dataset_counters(name, last_version) "
                         "VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET "
                         "last_version=excluded.last_version");
    up.bind(1, dataset.name());
    up.bind(2, static_cast<int64_t>(dataset.version()));
    up.exec();
    const std::string record = dataset.SerializeAsString();
    SQLite::Statement ins(*db_,
                          "INSERT INTO dataset_versions(name, version, "
                          "storage_key, record) VALUES(?, ?, ?, ?)");
    ins.bind(1, dataset.name());
    ins.bind(2, static_cast<int64_t>(dataset.version()));
    ins.bind(3, key);
    ins.bind(4, record.data(), static_cast<int>(record.size()));
    ins.exec();
    txn.commit();
  } catch (const std::exception& e) {
    return SqlError(e, "insert " + dataset.name());
  }
  return dataset;
}

absl::StatusOr<v1::Dataset> DatasetStore::Get(const std::string& name,
                                              int64_t version) const {
  absl::MutexLock lock(&db_mu_);
  try {
    std::string sql = "SELECT record FROM dataset_versions WHERE name=?";
    sql += version > 0 ? " AND version=?" : " ORDER BY version DESC LIMIT 1";
    SQLite::Statement q(*db_, sql);
    q.bind(1, name);
    if (version > 0) q.bind(2, static_cast<int64_t>(version));
    if (!q.executeStep()) return NotFound(name, version);
    return RowToDataset(q, 0);
  } catch (const std::exception& e) {
    return SqlError(e, "get " + name);
  }
}

absl::StatusOr<std::vector<v1::Dataset>> DatasetStore::List(
    const std::string& name) const {
  absl::MutexLock lock(&db_mu_);
  try {
    std::string sql = "SELECT record FROM dataset_versions";
    if (!name.empty()) sql += " WHERE name=?";
    sql += " ORDER BY name, version";
    SQLite::Statement q(*db_, sql);
    if (!name.empty()) q.bind(1, name);
    std::vector<v1::Dataset> out;
    while (q.executeStep()) {
      PS_ASSIGN_OR_RETURN(v1::Dataset d, RowToDataset(q, 0));
      out.push_back(std::move(d));
    }
    return out;
  } catch (const std::exception& e) {
    return SqlError(e, "list");
  }
}

absl::StatusOr<int> DatasetStore::Delete(const std::string& name,
                                         int64_t version,
                                         const RemovalCheck& check) {
  absl::MutexLock publish(&publish_mu_);
  std::vector<std::string> orphaned;
  int deleted = 0;
  {
    absl::MutexLock lock(&db_mu_);
    try {
      const std::string where =
          version > 0 ? " WHERE name=? AND version=?" : " WHERE name=?";
      std::set<std::string> keys;
      {
        SQLite::Statement q(
            *db_,
            absl::StrCat("SELECT storage_key FROM dataset_versions", where));
        q.bind(1, name);
        if (version > 0) q.bind(2, static_cast<int64_t>(version));
        while (q.executeStep()) {
          keys.insert(q.getColumn(0).getString());
          ++deleted;
        }
      }
      if (deleted == 0) return NotFound(name, version);
      for (const std::string& key : keys) {
        SQLite::Statement q(
            *db_, absl::StrCat("SELECT COUNT(*) FROM "
                               "dataset_versions WHERE "
                               "storage_key=? AND NOT (name=?",
                               version > 0 ? " AND version=?" : "", ")"));
        q.bind(1, key);
        q.bind(2, name);
        if (version > 0) q.bind(3, static_cast<int64_t>(version));
        q.executeStep();
        if (q.getColumn(0).getInt64() == 0) orphaned.push_back(key);
      }
      // Before anything changes: a job still reading the files keeps them.
      for (const std::string& key : orphaned) {
        if (check) {
          PS_RETURN_IF_ERROR(check(absl::StrCat(extracted_dir(), "/", key)));
        }
      }
      SQLite::Statement del(
          *db_, absl::StrCat("DELETE FROM dataset_versions", where));
      del.bind(1, name);
      if (version > 0) del.bind(2, static_cast<int64_t>(version));
      del.exec();
    } catch (const std::exception& e) {
      return SqlError(e, "delete " + name);
    }
  }
  for (const std::string& key : orphaned) {
    PS_RETURN_IF_ERROR(
        RemoveTree(extracted_dir(), absl::StrCat(extracted_dir(), "/", key)));
  }
  return deleted;
}

absl::StatusOr<std::string> DatasetStore::DirectoryOf(
    const v1::Dataset& dataset) const {
  absl::MutexLock lock(&db_mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT storage_key FROM dataset_versions WHERE "
                        "name=? AND version=?");
    q.bind(1, dataset.name());
    q.bind(2, static_cast<int64_t>(dataset.version()));
    if (!q.executeStep()) return NotFound(dataset.name(), dataset.version());
    return absl::StrCat(extracted_dir(), "/", q.getColumn(0).getString());
  } catch (const std::exception& e) {
    return SqlError(e, "get " + dataset.name());
  }
}

DatasetUpload::DatasetUpload(DatasetStore* store,
                             v1::UploadDatasetHeader header,
                             std::unique_ptr<BlobWriter> writer)
    : store_(store), header_(std::move(header)), writer_(std::move(writer)) {}

DatasetUpload::~DatasetUpload() {
  if (!done_) writer_->Abort();
}

absl::Status DatasetUpload::Append(absl::string_view chunk) {
  if (done_) return absl::FailedPreconditionError("upload already finished");
  const int64_t limit = store_->options_.max_archive_bytes;
  if (writer_->bytes_written() + static_cast<int64_t>(chunk.size()) > limit) {
    done_ = true;
    const int64_t total = writer_->bytes_written() + chunk.size();
    writer_->Abort();
    return LimitExceededError(
        absl::StatusCode::kResourceExhausted, "dataset_max_upload_mb",
        absl::StrCat("data set \"", header_.name(),
                     "\" exceeds the upload limit of ", limit,
                     " bytes (received ", total,
                     " so far; --dataset_max_upload_mb)"));
  }
  absl::Status s = writer_->Append(chunk);
  if (!s.ok()) {
    done_ = true;
    writer_->Abort();
  }
  return s;
}

absl::StatusOr<v1::Dataset> DatasetUpload::Commit() {
  if (done_) return absl::FailedPreconditionError("upload already finished");
  done_ = true;
  absl::StatusOr<v1::Dataset> result = store_->Finish(*writer_, header_);
  writer_->Abort();
  return result;
}

}  // namespace pruneserve::datasets
