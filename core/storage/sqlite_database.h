// Opens the project's SQLite databases (the model metadata index and the job
// store) the same way: one busy timeout, journal mode and synchronous level
// chosen here instead of restated, and drifting, in each store.
//
// The stores keep one connection each behind a mutex and the data directory
// lock keeps other servers out, so the busy timeout only matters when an
// operator's sqlite3 shell or a backup tool holds the file for a moment.
#ifndef PRUNESERVE_CORE_STORAGE_SQLITE_DATABASE_H_
#define PRUNESERVE_CORE_STORAGE_SQLITE_DATABASE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace SQLite {
class Database;
}

namespace pruneserve {

struct SqliteOpenOptions {
  // Path of the database file.
  std::string path;
  // Create the file when it is missing; otherwise a missing file is an
  // error (INTERNAL, from SQLite).
  bool create_if_missing = true;
  // How long a statement waits for a lock another connection holds before
  // failing with SQLITE_BUSY.
  absl::Duration busy_timeout = absl::Seconds(10);
  // PRAGMA journal_mode: DELETE, TRUNCATE, PERSIST, MEMORY, WAL or OFF.
  // WAL lets readers proceed during a write and survives a crash.
  std::string journal_mode = "WAL";
  // PRAGMA synchronous: OFF, NORMAL, FULL or EXTRA. FULL fsyncs every
  // commit, so a committed row survives power loss.
  std::string synchronous = "FULL";
  // PRAGMA foreign_keys: enforce REFERENCES clauses.
  bool foreign_keys = false;
  // Runs after the file is opened and before any pragma or the schema can
  // write to it, e.g. to refuse a file that lacks the expected tables.
  // Its error is returned unchanged. Empty: no check.
  std::function<absl::Status(SQLite::Database&)> check_before_writing;
  // SQL run last (CREATE TABLE IF NOT EXISTS ...). Empty: none.
  std::string schema;
  // Start of the INTERNAL error message when SQLite fails, e.g. "job store:
  // cannot open /var/x.db"; SQLite's own message follows after ": ".
  std::string error_prefix = "open SQLite database";
};

// Opens the database as `options` says. Returns INVALID_ARGUMENT for an
// unknown journal mode or synchronous level, the check's own status when
// check_before_writing fails, and INTERNAL (error_prefix: SQLite's message)
// when SQLite fails. Blocks on file I/O.
absl::StatusOr<std::unique_ptr<SQLite::Database>> OpenSqliteDatabase(
    const SqliteOpenOptions& options);

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_STORAGE_SQLITE_DATABASE_H_
