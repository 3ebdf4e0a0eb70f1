#include "core/storage/sqlite_database.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <exception>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pruneserve {
namespace {

constexpr const char* kJournalModes[] = {"DELETE", "TRUNCATE", "PERSIST",
                                         "MEMORY", "WAL",      "OFF"};
constexpr const char* kSynchronousLevels[] = {"OFF", "NORMAL", "FULL", "EXTRA"};

// The upper-cased `value` when it is one of `allowed` (pragma values cannot
// be bound as parameters, so only known words reach the SQL text).
template <size_t N>
absl::StatusOr<std::string> OneOf(const std::string& value,
                                  const char* const (&allowed)[N],
                                  const char* pragma) {
  const std::string upper = absl::AsciiStrToUpper(value);
  if (std::find(std::begin(allowed), std::end(allowed), upper) ==
      std::end(allowed)) {
    return absl::InvalidArgumentError(
        absl::StrCat("PRAGMA ", pragma, " '", value, "' is not one of ",
                     absl::StrJoin(allowed, ", ")));
  }
  return upper;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SQLite::Database>> OpenSqliteDatabase(
    const SqliteOpenOptions& options) {
  auto journal = OneOf(options.journal_mode, kJournalModes, "journal_mode");
  if (!journal.ok()) return journal.status();
  auto synchronous =
      OneOf(options.synchronous, kSynchronousLevels, "synchronous");
  if (!synchronous.ok()) return synchronous.status();
  try {
    auto db = std::make_unique<SQLite::Database>(
        options.path,
        SQLite::OPEN_READWRITE |
            (options.create_if_missing ? SQLite::OPEN_CREATE : 0));
    db->setBusyTimeout(
        static_cast<int>(absl::ToInt64Milliseconds(options.busy_timeout)));
    if (options.check_before_writing) {
      absl::Status checked = options.check_before_writing(*db);
      if (!checked.ok()) return checked;
    }
    db->exec(absl::StrCat("PRAGMA journal_mode=", *journal));
    db->exec(absl::StrCat("PRAGMA synchronous=", *synchronous));
    if (options.foreign_keys) db->exec("PRAGMA foreign_keys=ON");
    if (!options.schema.empty()) db->exec(options.schema);
    return db;
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat(options.error_prefix, ": ", e.what()));
  }
}

}  // namespace pruneserve
