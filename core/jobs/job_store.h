// Durable job records in SQLite (WAL, synchronous=FULL), one row per job
// holding the serialized pruneserve.v1.Job plus the columns queries need
// (sequence, id, state). The job service writes a row when a job is
// accepted, at every state change and periodically while it runs, so a
// restarted server finds queued and interrupted jobs and the full history.
#ifndef PRUNESERVE_CORE_JOBS_JOB_STORE_H_
#define PRUNESERVE_CORE_JOBS_JOB_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "pruneserve/v1/pruning_jobs.pb.h"

namespace SQLite {
class Database;
}

namespace pruneserve::jobs {

struct JobStoreOptions {
  // Path of the SQLite database file; created when missing.
  std::string path;
  // How long a write waits for another connection's lock before it fails.
  absl::Duration busy_timeout = absl::Seconds(10);
};

// One page of a listing.
struct JobPage {
  std::vector<v1::Job> jobs;
  // Token of the next page; empty on the last.
  std::string next_page_token;
};

// Thread-safe: one connection guarded by a mutex; every call is a short
// transaction and blocks on SQLite's fsync.
class JobStore {
 public:
  // Opens (or creates) the database and its schema. INTERNAL naming the file
  // when SQLite cannot open it.
  static absl::StatusOr<std::unique_ptr<JobStore>> Create(
      JobStoreOptions options);
  ~JobStore();

  // Stores `job` under a new id ("job-000001", increasing, never reused) and
  // returns it with the id set.
  absl::StatusOr<v1::Job> Insert(v1::Job job);

  // Replaces the stored record of job.id(). NOT_FOUND when absent.
  absl::Status Update(const v1::Job& job);

  // NOT_FOUND naming the id when absent. A record that does not parse comes
  // back as a FAILED job with that id, error_code DATA_LOSS and a message
  // saying so (here and in List()).
  absl::StatusOr<v1::Job> Get(const std::string& id) const;

  // Newest first; `state` filters unless JOB_STATE_UNSPECIFIED. page_size
  // must be 1..1000; INVALID_ARGUMENT for a malformed page token.
  absl::StatusOr<JobPage> List(v1::JobState state, int page_size,
                               const std::string& page_token) const;

  // Queued and running jobs, oldest first (what a restart must resume).
  // Records that do not parse are not returned: their state is set to
  // FAILED (their bytes are kept) and each is logged, so one damaged row
  // does not stop a start.
  absl::StatusOr<std::vector<v1::Job>> ListUnfinished();

  // Number of jobs per state (states without jobs are absent).
  absl::StatusOr<std::map<v1::JobState, int64_t>> CountByState() const;

 private:
  explicit JobStore(std::unique_ptr<SQLite::Database> db);

  mutable absl::Mutex mu_;
  std::unique_ptr<SQLite::Database> db_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pruneserve::jobs

#endif  // PRUNESERVE_CORE_JOBS_JOB_STORE_H_
