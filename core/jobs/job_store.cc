#include "core/jobs/job_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/storage/sqlite_database.h"

namespace pruneserve::jobs {
namespace {

constexpr char kSchema[] = R"SQL(
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT UNIQUE,
  state INTEGER NOT NULL,
  job BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, seq);
)SQL";

absl::Status SqlError(const std::exception& e, const std::string& what) {
  return absl::InternalError(absl::StrCat("job store: ", what, ": ", e.what()));
}

// Parses a stored record. A record that does not parse (a torn write, a
// damaged file, a record from an incompatible build) is reported as a FAILED
// job carrying the id and the reason, so one bad row neither hides the rest
// of a listing nor stops a start; the stored bytes are kept as they are.
v1::Job ParseJob(const SQLite::Column& record, const std::string& id) {
  v1::Job job;
  if (job.ParseFromArray(record.getBlob(), record.getBytes())) return job;
  job.Clear();
  job.set_id(id);
  job.set_state(v1::JOB_STATE_FAILED);
  job.set_error_code(static_cast<int>(absl::StatusCode::kDataLoss));
  job.set_error_message(absl::StrCat("job store: the stored record of ", id,
                                     " (", record.getBytes(),
                                     " bytes) is unreadable"));
  return job;
}

bool Parses(const SQLite::Column& record) {
  v1::Job job;
  return job.ParseFromArray(record.getBlob(), record.getBytes());
}

std::string Serialize(const v1::Job& job) {
  std::string bytes;
  job.SerializeToString(&bytes);
  return bytes;
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Create(
    JobStoreOptions options) {
  SqliteOpenOptions open;
  open.path = options.path;
  open.schema = kSchema;
  open.busy_timeout = options.busy_timeout;
  open.error_prefix = absl::StrCat("job store: cannot open ", options.path);
  auto db = OpenSqliteDatabase(open);
  if (!db.ok()) return db.status();
  return std::unique_ptr<JobStore>(new JobStore(*std::move(db)));
}

JobStore::JobStore(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}

JobStore::~JobStore() = default;

absl::StatusOr<v1::Job> JobStore::Insert(v1::Job job) {
  absl::MutexLock lock(&mu_);
  try {
    SQLite::Transaction tx(*db_);
    SQLite::Statement insert(*db_,
                             "INSERT INTO jobs (state, job) VALUES (?, x'')");
    insert.bind(1, static_cast<int>(job.state()));
    insert.exec();
    const int64_t seq = db_->getLastInsertRowid();
    char id[32];
    std::snprintf(id, sizeof(id), "job-%06lld", static_cast<long long>(seq));
    job.set_id(id);
    SQLite::Statement update(*db_,
                             "UPDATE jobs SET id = ?, job = ? WHERE seq = ?");
    const std::string bytes = Serialize(job);
    update.bind(1, job.id());
    update.bind(2, bytes.data(), static_cast<int>(bytes.size()));
    update.bind(3, static_cast<int64_t>(seq));
    update.exec();
    tx.commit();
    return job;
  } catch (const std::exception& e) {
    return SqlError(e, "insert");
  }
}

absl::Status JobStore::Update(const v1::Job& job) {
  absl::MutexLock lock(&mu_);
  try {
    SQLite::Statement update(*db_,
                             "UPDATE jobs SET state = ?, job = ? WHERE id = ?");
    const std::string bytes = Serialize(job);
    update.bind(1, static_cast<int>(job.state()));
    update.bind(2, bytes.data(), static_cast<int>(bytes.size()));
    update.bind(3, job.id());
    if (update.exec() == 0) {
      return absl::NotFoundError(absl::StrCat("job ", job.id(), " not found"));
    }
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return SqlError(e, absl::StrCat("update ", job.id()));
  }
}

absl::StatusOr<v1::Job> JobStore::Get(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  try {
    SQLite::Statement q(*db_, "SELECT job FROM jobs WHERE id = ?");
    q.bind(1, id);
    if (!q.executeStep()) {
      return absl::NotFoundError(absl::StrCat("job \"", id, "\" not found"));
    }
    return ParseJob(q.getColumn(0), id);
  } catch (const std::exception& e) {
    return SqlError(e, absl::StrCat("get ", id));
  }
}

absl::StatusOr<JobPage> JobStore::List(v1::JobState state, int page_size,
                                       const std::string& page_token) const {
  if (page_size < 1 || page_size > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("page size ", page_size, " is outside 1..1000"));
  }
  int64_t before = INT64_MAX;
  if (!page_token.empty() &&
      (!absl::SimpleAtoi(page_token, &before) || before <= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("page token \"", page_token, "\" is not valid"));
  }
  absl::MutexLock lock(&mu_);
  try {
    const bool filtered = state != v1::JOB_STATE_UNSPECIFIED;
    SQLite::Statement q(
        *db_, filtered ? "SELECT seq, job, id FROM jobs WHERE seq < ? AND "
                         "state = ? ORDER BY seq DESC LIMIT ?"
                       : "SELECT seq, job, id FROM jobs WHERE seq < ? "
                         "ORDER BY seq DESC LIMIT ?");
    int arg = 1;
    q.bind(arg++, before);
    if (filtered) q.bind(arg++, static_cast<int>(state));
    q.bind(arg++, page_size + 1);
    JobPage page;
    int64_t last_seq = 0;
    while (q.executeStep()) {
      if (static_cast<int>(page.jobs.size()) == page_size) {
        page.next_page_token = absl::StrCat(last_seq);
        break;
      }
      last_seq = q.getColumn(0).getInt64();
      page.jobs.push_back(ParseJob(q.getColumn(1), q.getColumn(2).getString()));
    }
    return page;
  } catch (const std::exception& e) {
    return SqlError(e, "list");
  }
}

absl::StatusOr<std::vector<v1::Job>> JobStore::ListUnfinished() {
  absl::MutexLock lock(&mu_);
  try {
    std::vector<v1::Job> jobs;
    std::vector<std::string> unreadable;
    {
      SQLite::Statement q(*db_,
                          "SELECT job, id FROM jobs WHERE state IN (?, ?) "
                          "ORDER BY seq ASC");
      q.bind(1, static_cast<int>(v1::JOB_STATE_QUEUED));
      q.bind(2, static_cast<int>(v1::JOB_STATE_RUNNING));
      while (q.executeStep()) {
        const std::string id = q.getColumn(1).getString();
        if (Parses(q.getColumn(0))) {
          jobs.push_back(ParseJob(q.getColumn(0), id));
        } else {
          unreadable.push_back(id);
        }
      }
    }
    // Cannot be resumed: ended as FAILED (the record itself is kept), so
    // the next start does not meet it again.
    for (const std::string& id : unreadable) {
      std::fprintf(stderr,
                   "pruneserve: job %s has an unreadable record; marking it "
                   "FAILED instead of resuming it\n",
                   id.c_str());
      SQLite::Statement fail(*db_, "UPDATE jobs SET state = ? WHERE id = ?");
      fail.bind(1, static_cast<int>(v1::JOB_STATE_FAILED));
      fail.bind(2, id);
      fail.exec();
    }
    return jobs;
  } catch (const std::exception& e) {
    return SqlError(e, "list unfinished");
  }
}

absl::StatusOr<std::map<v1::JobState, int64_t>> JobStore::CountByState() const {
  absl::MutexLock lock(&mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT state, COUNT(*) FROM jobs GROUP BY state");
    std::map<v1::JobState, int64_t> counts;
    while (q.executeStep()) {
      counts[static_cast<v1::JobState>(q.getColumn(0).getInt())] =
          q.getColumn(1).getInt64();
    }
    return counts;
  } catch (const std::exception& e) {
    return SqlError(e, "count");
  }
}

}  // namespace pruneserve::jobs
