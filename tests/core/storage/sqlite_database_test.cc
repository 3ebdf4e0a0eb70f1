// OpenSqliteDatabase: the pragmas and busy timeout read back from SQLite,
// the creation switch, the pre-write check and the error shapes.
#include "core/storage/sqlite_database.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/testing/temp_dir.h"

namespace pruneserve {
namespace {

TEST(SqliteDatabaseTest, AppliesTheDefaults) {
  testing::TempDir dir;
  SqliteOpenOptions options;
  options.path = dir.Join("a.db");
  options.schema = "CREATE TABLE IF NOT EXISTS t (x INTEGER);";
  auto db = OpenSqliteDatabase(options);
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ((*db)->execAndGet("PRAGMA journal_mode").getString(), "wal");
  EXPECT_EQ((*db)->execAndGet("PRAGMA synchronous").getInt(), 2);  // FULL
  EXPECT_EQ((*db)->execAndGet("PRAGMA busy_timeout").getInt(), 10000);
  EXPECT_EQ((*db)->execAndGet("PRAGMA foreign_keys").getInt(), 0);
  EXPECT_TRUE((*db)->tableExists("t"));
}

TEST(SqliteDatabaseTest, AppliesEveryOption) {
  testing::TempDir dir;
  SqliteOpenOptions options;
  options.path = dir.Join("b.db");
  options.busy_timeout = absl::Milliseconds(1234);
  options.journal_mode = "delete";
  options.synchronous = "NORMAL";
  options.foreign_keys = true;
  auto db = OpenSqliteDatabase(options);
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ((*db)->execAndGet("PRAGMA journal_mode").getString(), "delete");
  EXPECT_EQ((*db)->execAndGet("PRAGMA synchronous").getInt(), 1);  // NORMAL
  EXPECT_EQ((*db)->execAndGet("PRAGMA busy_timeout").getInt(), 1234);
  EXPECT_EQ((*db)->execAndGet("PRAGMA foreign_keys").getInt(), 1);
}

TEST(SqliteDatabaseTest, MissingFileWithoutCreateIsInternalWithThePrefix) {
  testing::TempDir dir;
  SqliteOpenOptions options;
  options.path = dir.Join("missing.db");
  options.create_if_missing = false;
  options.error_prefix = "open the test database";
  auto db = OpenSqliteDatabase(options);
  EXPECT_EQ(db.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(db.status().message().rfind("open the test database: ", 0), 0u)
      << db.status();
  EXPECT_FALSE(std::filesystem::exists(options.path));
}

TEST(SqliteDatabaseTest, TheCheckRunsBeforeAnythingIsWritten) {
  testing::TempDir dir;
  SqliteOpenOptions options;
  options.path = dir.Join("empty.db");
  std::ofstream(options.path).close();
  options.schema = "CREATE TABLE t (x INTEGER);";
  int checks = 0;
  options.check_before_writing = [&checks](SQLite::Database& db) {
    ++checks;
    return db.tableExists("t") ? absl::OkStatus()
                               : absl::FailedPreconditionError("no table t");
  };
  auto db = OpenSqliteDatabase(options);
  EXPECT_EQ(db.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(db.status().message(), "no table t");
  EXPECT_EQ(checks, 1);
  // Neither the WAL switch nor the schema touched the empty file.
  EXPECT_EQ(std::filesystem::file_size(options.path), 0u);
  EXPECT_FALSE(std::filesystem::exists(options.path + "-wal"));
}

TEST(SqliteDatabaseTest, UnknownPragmaValuesAreInvalidArguments) {
  testing::TempDir dir;
  SqliteOpenOptions options;
  options.path = dir.Join("c.db");
  options.journal_mode = "WAL; DROP TABLE x";
  EXPECT_EQ(OpenSqliteDatabase(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.journal_mode = "WAL";
  options.synchronous = "sometimes";
  EXPECT_EQ(OpenSqliteDatabase(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(options.path));
}

}  // namespace
}  // namespace pruneserve
