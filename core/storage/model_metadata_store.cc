#include "core/storage/model_metadata_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/storage/sqlite_database.h"

namespace pruneserve {
namespace {

constexpr char kSchema[] = R"SQL(
CREATE TABLE IF NOT EXISTS model_counters (
  name TEXT PRIMARY KEY,
  last_version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS model_versions (
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  format INTEGER NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  sha256 TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  created_unix_ms INTEGER NOT NULL,
  parameter_count INTEGER NOT NULL DEFAULT 0,
  parameter_bytes INTEGER NOT NULL DEFAULT 0,
  forward_input_count INTEGER NOT NULL DEFAULT 0,
  example_input_shape TEXT NOT NULL DEFAULT '',
  output_shape TEXT NOT NULL DEFAULT '',
  flops INTEGER NOT NULL DEFAULT 0,
  parent_name TEXT NOT NULL DEFAULT '',
  parent_version INTEGER NOT NULL DEFAULT 0,
  job_id TEXT NOT NULL DEFAULT '',
  policy TEXT NOT NULL DEFAULT '',
  report BLOB,
  corrupt INTEGER NOT NULL DEFAULT 0,
  validation INTEGER NOT NULL DEFAULT 0,
  validation_error TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (name, version)
);
CREATE INDEX IF NOT EXISTS model_versions_sha256 ON model_versions(sha256);
)SQL";

constexpr char kColumns[] =
    "name, version, format, description, sha256, size_bytes, created_unix_ms, "
    "parameter_count, parameter_bytes, forward_input_count, "
    "example_input_shape, output_shape, flops, parent_name, parent_version, "
    "job_id, policy, report, corrupt, validation, validation_error";

std::string ShapeToText(const google::protobuf::RepeatedField<int64_t>& dims) {
  return absl::StrJoin(dims, ",");
}

void TextToShape(const std::string& text,
                 google::protobuf::RepeatedField<int64_t>* dims) {
  dims->Clear();
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int64_t d = 0;
    if (absl::SimpleAtoi(part, &d)) dims->Add(d);
  }
}

v1::ModelVersion RowToModel(SQLite::Statement& q) {
  v1::ModelVersion m;
  m.set_name(q.getColumn(0).getString());
  m.set_version(q.getColumn(1).getInt64());
  m.set_format(static_cast<v1::ModelFormat>(q.getColumn(2).getInt()));
  m.set_description(q.getColumn(3).getString());
  m.set_sha256(q.getColumn(4).getString());
  m.set_size_bytes(q.getColumn(5).getInt64());
  m.set_created_unix_ms(q.getColumn(6).getInt64());
  m.set_parameter_count(q.getColumn(7).getInt64());
  m.set_parameter_bytes(q.getColumn(8).getInt64());
  m.set_forward_input_count(q.getColumn(9).getInt());
  TextToShape(q.getColumn(10).getString(), m.mutable_example_input_shape());
  TextToShape(q.getColumn(11).getString(), m.mutable_output_shape());
  m.set_flops(q.getColumn(12).getInt64());
  std::string parent = q.getColumn(13).getString();
  std::string job_id = q.getColumn(15).getString();
  if (!parent.empty() || !job_id.empty()) {
    m.mutable_lineage()->set_parent_name(parent);
    m.mutable_lineage()->set_parent_version(q.getColumn(14).getInt64());
    m.mutable_lineage()->set_job_id(job_id);
    m.mutable_lineage()->set_policy(q.getColumn(16).getString());
  }
  SQLite::Column report = q.getColumn(17);
  if (!report.isNull()) {
    m.set_report(static_cast<const char*>(report.getBlob()), report.getBytes());
  }
  m.set_corrupt(q.getColumn(18).getInt() != 0);
  const int validation = q.getColumn(19).getInt();
  m.set_validation(v1::ModelValidation_IsValid(validation)
                       ? static_cast<v1::ModelValidation>(validation)
                       : v1::MODEL_VALIDATION_UNSPECIFIED);
  m.set_validation_error(q.getColumn(20).getString());
  return m;
}

// Databases written before a column existed get it added with its default,
// so an older data directory opens unchanged. Runs inside the open, before
// any query names the column. A row of an older release reads as
// MODEL_VALIDATION_UNSPECIFIED, which makes the repository check it again
// before its first load.
void AddMissingColumns(SQLite::Database& db) {
  constexpr std::pair<const char*, const char*> kAdded[] = {
      {"corrupt", "corrupt INTEGER NOT NULL DEFAULT 0"},
      {"validation", "validation INTEGER NOT NULL DEFAULT 0"},
      {"validation_error", "validation_error TEXT NOT NULL DEFAULT ''"},
  };
  std::set<std::string> present;
  {
    SQLite::Statement q(db, "PRAGMA table_info(model_versions)");
    while (q.executeStep()) present.insert(q.getColumn(1).getString());
  }
  for (const auto& [column, definition] : kAdded) {
    if (!present.count(column)) {
      db.exec(
          absl::StrCat("ALTER TABLE model_versions ADD COLUMN ", definition));
    }
  }
}

void BindModel(SQLite::Statement& ins, const v1::ModelVersion& model) {
  ins.bind(1, model.name());
  ins.bind(2, static_cast<int64_t>(model.version()));
  ins.bind(3, static_cast<int>(model.format()));
  ins.bind(4, model.description());
  ins.bind(5, model.sha256());
  ins.bind(6, static_cast<int64_t>(model.size_bytes()));
  ins.bind(7, static_cast<int64_t>(model.created_unix_ms()));
  ins.bind(8, static_cast<int64_t>(model.parameter_count()));
  ins.bind(9, static_cast<int64_t>(model.parameter_bytes()));
  ins.bind(10, model.forward_input_count());
  ins.bind(11, ShapeToText(model.example_input_shape()));
  ins.bind(12, ShapeToText(model.output_shape()));
  ins.bind(13, static_cast<int64_t>(model.flops()));
  ins.bind(14, model.lineage().parent_name());
  ins.bind(15, static_cast<int64_t>(model.lineage().parent_version()));
  ins.bind(16, model.lineage().job_id());
  ins.bind(17, model.lineage().policy());
  if (model.report().empty()) {
    ins.bind(18);
  } else {
    ins.bind(18, model.report().data(),
             static_cast<int>(model.report().size()));
  }
  ins.bind(19, model.corrupt() ? 1 : 0);
  ins.bind(20, static_cast<int>(model.validation()));
  ins.bind(21, model.validation_error());
}

constexpr char kInsertRow[] =
    "INSERT INTO model_versions(name, version, format, description, sha256, "
    "size_bytes, created_unix_ms, parameter_count, parameter_bytes, "
    "forward_input_count, example_input_shape, output_shape, flops, "
    "parent_name, parent_version, job_id, policy, report, corrupt, "
    "validation, validation_error) "
    "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

absl::Status SqlError(const std::exception& e, absl::string_view what) {
  return absl::InternalError(
      absl::StrCat("model metadata ", what, ": ", e.what()));
}

}  // namespace

ModelMetadataStore::ModelMetadataStore(std::unique_ptr<SQLite::Database> db)
    : db_(std::move(db)) {}

ModelMetadataStore::~ModelMetadataStore() = default;

absl::StatusOr<std::unique_ptr<ModelMetadataStore>> ModelMetadataStore::Create(
    ModelMetadataStoreOptions options) {
  if (options.must_exist && !std::filesystem::exists(options.path)) {
    return absl::FailedPreconditionError(
        absl::StrCat("model database ", options.path, " is missing"));
  }
  SqliteOpenOptions open;
  open.path = options.path;
  open.create_if_missing = !options.must_exist;
  open.foreign_keys = true;
  open.schema = kSchema;
  open.error_prefix = absl::StrCat("open model database ", options.path);
  if (options.must_exist) {
    // Reads the header and the schema, so a file that is not a database
    // fails here rather than being given a fresh schema.
    open.check_before_writing = [&options](SQLite::Database& db) {
      SQLite::Statement q(db,
                          "SELECT COUNT(*) FROM sqlite_master WHERE type = "
                          "'table' AND name IN ('model_versions', "
                          "'model_counters')");
      q.executeStep();
      if (q.getColumn(0).getInt() != 2) {
        return absl::FailedPreconditionError(absl::StrCat(
            "model database ", options.path, " has no model tables"));
      }
      return absl::OkStatus();
    };
  }
  auto db = OpenSqliteDatabase(open);
  if (!db.ok()) return db.status();
  try {
    AddMissingColumns(**db);
  } catch (const std::exception& e) {
    return SqlError(e, "upgrade " + options.path);
  }
  return std::unique_ptr<ModelMetadataStore>(
      new ModelMetadataStore(*std::move(db)));
}

absl::StatusOr<v1::ModelVersion> ModelMetadataStore::InsertNextVersion(
    v1::ModelVersion model) {
  absl::MutexLock lock(&mu_);
  try {
    SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    int64_t last = 0;
    {
      SQLite::Statement q(
          *db_, "SELECT last_version FROM model_counters WHERE name=?");
      q.bind(1, model.name());
      if (q.executeStep()) last = q.getColumn(0).getInt64();
    }
    model.set_version(last + 1);
    model.set_created_unix_ms(
        std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count());
    {
      SQLite::Statement up(*db_,
                           "INSERT INTO model_counters(name, last_version) "
                           "VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET "
                           "last_version=excluded.last_version");
      up.bind(1, model.name());
      up.bind(2, static_cast<int64_t>(model.version()));
      up.exec();
    }
    SQLite::Statement ins(*db_, kInsertRow);
    BindModel(ins, model);
    ins.exec();
    txn.commit();
    return model;
  } catch (const std::exception& e) {
    return SqlError(e, "insert " + model.name());
  }
}

absl::Status ModelMetadataStore::RestoreVersion(const v1::ModelVersion& model) {
  absl::MutexLock lock(&mu_);
  try {
    SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    {
      SQLite::Statement q(
          *db_, "SELECT 1 FROM model_versions WHERE name=? AND version=?");
      q.bind(1, model.name());
      q.bind(2, static_cast<int64_t>(model.version()));
      if (q.executeStep()) {
        return absl::AlreadyExistsError(
            absl::StrCat("model ", model.name(), " version ", model.version(),
                         " already exists"));
      }
    }
    // The counter only grows: versions handed out before the index was
    // lost stay unused even when their rows cannot be restored.
    SQLite::Statement up(
        *db_,
        "INSERT INTO model_counters(name, last_version) "
        "VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET "
        "last_version=MAX(last_version, excluded.last_version)");
    up.bind(1, model.name());
    up.bind(2, static_cast<int64_t>(model.version()));
    up.exec();
    SQLite::Statement ins(*db_, kInsertRow);
    BindModel(ins, model);
    ins.exec();
    txn.commit();
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return SqlError(e, "restore " + model.name());
  }
}

absl::StatusOr<int> ModelMetadataStore::SetCorrupt(const std::string& sha256,
                                                   bool corrupt) {
  absl::MutexLock lock(&mu_);
  try {
    SQLite::Statement q(
        *db_,
        "UPDATE model_versions SET corrupt=? WHERE sha256=? AND corrupt<>?");
    q.bind(1, corrupt ? 1 : 0);
    q.bind(2, sha256);
    q.bind(3, corrupt ? 1 : 0);
    return q.exec();
  } catch (const std::exception& e) {
    return SqlError(e, "mark " + sha256);
  }
}

absl::Status ModelMetadataStore::SetValidation(const std::string& name,
                                               int64_t version,
                                               v1::ModelValidation validation,
                                               const std::string& error) {
  absl::MutexLock lock(&mu_);
  try {
    SQLite::Statement q(*db_,
                        "UPDATE model_versions SET validation=?, "
                        "validation_error=? WHERE name=? AND version=?");
    q.bind(1, static_cast<int>(validation));
    q.bind(2, error);
    q.bind(3, name);
    q.bind(4, static_cast<int64_t>(version));
    if (q.exec() == 0) {
      return absl::NotFoundError(
          absl::StrCat("model ", name, " version ", version, " not found"));
    }
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return SqlError(e, absl::StrCat("mark ", name, ":", version));
  }
}

absl::StatusOr<v1::ModelVersion> ModelMetadataStore::Get(
    const std::string& name, int64_t version) const {
  absl::MutexLock lock(&mu_);
  try {
    std::string sql =
        absl::StrCat("SELECT ", kColumns, " FROM model_versions WHERE name=?");
    sql += version > 0 ? " AND version=?" : " ORDER BY version DESC LIMIT 1";
    SQLite::Statement q(*db_, sql);
    q.bind(1, name);
    if (version > 0) q.bind(2, static_cast<int64_t>(version));
    if (!q.executeStep()) {
      return absl::NotFoundError(
          version > 0
              ? absl::StrCat("model ", name, " version ", version, " not found")
              : absl::StrCat("model ", name, " not found"));
    }
    return RowToModel(q);
  } catch (const std::exception& e) {
    return SqlError(e, "get " + name);
  }
}

absl::StatusOr<std::optional<v1::ModelVersion>>
ModelMetadataStore::FindJobResult(const std::string& name,
                                  v1::ModelFormat format,
                                  const std::string& job_id) const {
  absl::MutexLock lock(&mu_);
  try {
    SQLite::Statement q(
        *db_, absl::StrCat("SELECT ", kColumns,
                           " FROM model_versions WHERE name=? AND format=? "
                           "AND job_id=? ORDER BY version LIMIT 1"));
    q.bind(1, name);
    q.bind(2, static_cast<int>(format));
    q.bind(3, job_id);
    if (!q.executeStep()) return std::optional<v1::ModelVersion>();
    return std::optional<v1::ModelVersion>(RowToModel(q));
  } catch (const std::exception& e) {
    return SqlError(e, "find result of " + job_id);
  }
}

absl::StatusOr<std::vector<v1::ModelVersion>> ModelMetadataStore::List(
    const std::string& name) const {
  absl::MutexLock lock(&mu_);
  try {
    std::string sql = absl::StrCat("SELECT ", kColumns, " FROM model_versions");
    if (!name.empty()) sql += " WHERE name=?";
    sql += " ORDER BY name, version";
    SQLite::Statement q(*db_, sql);
    if (!name.empty()) q.bind(1, name);
    std::vector<v1::ModelVersion> out;
    while (q.executeStep()) out.push_back(RowToModel(q));
    return out;
  } catch (const std::exception& e) {
    return SqlError(e, "list");
  }
}

absl::StatusOr<std::vector<v1::ModelVersion>> ModelMetadataStore::Delete(
    const std::string& name, int64_t version) {
  absl::MutexLock lock(&mu_);
  try {
    SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    std::string where =
        version > 0 ? " WHERE name=? AND version=?" : " WHERE name=?";
    std::vector<v1::ModelVersion> rows;
    {
      SQLite::Statement q(*db_, absl::StrCat("SELECT ", kColumns,
                                             " FROM model_versions", where));
      q.bind(1, name);
      if (version > 0) q.bind(2, static_cast<int64_t>(version));
      while (q.executeStep()) rows.push_back(RowToModel(q));
    }
    if (rows.empty()) {
      return absl::NotFoundError(
          version > 0
              ? absl::StrCat("model ", name, " version ", version, " not found")
              : absl::StrCat("model ", name, " not found"));
    }
    SQLite::Statement del(*db_,
                          absl::StrCat("DELETE FROM model_versions", where));
    del.bind(1, name);
    if (version > 0) del.bind(2, static_cast<int64_t>(version));
    del.exec();
    txn.commit();
    return rows;
  } catch (const std::exception& e) {
    return SqlError(e, "delete " + name);
  }
}

absl::StatusOr<int64_t> ModelMetadataStore::CountBlobReferences(
    const std::string& sha256) const {
  absl::MutexLock lock(&mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT COUNT(*) FROM model_versions WHERE sha256=?");
    q.bind(1, sha256);
    q.executeStep();
    return q.getColumn(0).getInt64();
  } catch (const std::exception& e) {
    return SqlError(e, "count references");
  }
}

absl::StatusOr<std::vector<std::string>> ModelMetadataStore::ReferencedBlobs()
    const {
  absl::MutexLock lock(&mu_);
  try {
    SQLite::Statement q(*db_, "SELECT DISTINCT sha256 FROM model_versions");
    std::vector<std::string> out;
    while (q.executeStep()) out.push_back(q.getColumn(0).getString());
    return out;
  } catch (const std::exception& e) {
    return SqlError(e, "list blobs");
  }
}

absl::StatusOr<MetadataTotals> ModelMetadataStore::Totals() const {
  absl::MutexLock lock(&mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT COUNT(*), COUNT(DISTINCT name), "
                        "COALESCE(SUM(size_bytes), 0), "
                        "COALESCE(SUM(corrupt <> 0), 0) FROM model_versions");
    q.executeStep();
    MetadataTotals t;
    t.versions = q.getColumn(0).getInt64();
    t.models = q.getColumn(1).getInt64();
    t.bytes = q.getColumn(2).getInt64();
    t.corrupt_versions = q.getColumn(3).getInt64();
    return t;
  } catch (const std::exception& e) {
    return SqlError(e, "totals");
  }
}

}  // namespace pruneserve
