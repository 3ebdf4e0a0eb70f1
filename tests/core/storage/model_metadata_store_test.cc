#include "core/storage/model_metadata_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve {
namespace {

v1::ModelVersion Model(const std::string& name, const std::string& sha) {
  v1::ModelVersion m;
  m.set_name(name);
  m.set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
  m.set_sha256(sha);
  m.set_size_bytes(100);
  m.set_parameter_count(42);
  m.add_example_input_shape(1);
  m.add_example_input_shape(3);
  m.add_output_shape(1);
  m.add_output_shape(10);
  return m;
}

TEST(ModelMetadataStoreTest, VersionsIncreaseAndRoundTrip) {
  testing::TempDir dir;
  auto store = ModelMetadataStore::Create({dir.Join("m.db")});
  ASSERT_TRUE(store.ok()) << store.status();
  auto a = (*store)->InsertNextVersion(Model("net", "aa"));
  auto b = (*store)->InsertNextVersion(Model("net", "bb"));
  auto c = (*store)->InsertNextVersion(Model("other", "aa"));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->version(), 1);
  EXPECT_EQ(b->version(), 2);
  EXPECT_EQ(c->version(), 1);
  EXPECT_GT(a->created_unix_ms(), 0);

  auto latest = (*store)->Get("net", 0);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->version(), 2);
  EXPECT_EQ(latest->sha256(), "bb");
  EXPECT_EQ(latest->parameter_count(), 42);
  EXPECT_EQ(latest->example_input_shape_size(), 2);
  EXPECT_EQ(latest->output_shape(1), 10);

  auto all = (*store)->List("");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].name(), "net");
  EXPECT_EQ((*all)[2].name(), "other");
  EXPECT_EQ((*store)->List("net")->size(), 2u);
  EXPECT_EQ(*(*store)->CountBlobReferences("aa"), 2);
  auto totals = (*store)->Totals();
  EXPECT_EQ(totals->versions, 3);
  EXPECT_EQ(totals->models, 2);
  EXPECT_EQ(totals->bytes, 300);
}

TEST(ModelMetadataStoreTest, DeletedVersionNumbersAreNotReused) {
  testing::TempDir dir;
  auto store = ModelMetadataStore::Create({dir.Join("m.db")});
  ASSERT_TRUE((*store)->InsertNextVersion(Model("net", "aa")).ok());
  ASSERT_TRUE((*store)->InsertNextVersion(Model("net", "bb")).ok());
  auto deleted = (*store)->Delete("net", 2);
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(deleted->size(), 1u);
  EXPECT_EQ((*store)->InsertNextVersion(Model("net", "cc"))->version(), 3);
  // Deleting every version keeps the counter too.
  EXPECT_EQ((*store)->Delete("net", 0)->size(), 2u);
  EXPECT_EQ((*store)->InsertNextVersion(Model("net", "dd"))->version(), 4);
}

TEST(ModelMetadataStoreTest, MissingModelsAreNotFound) {
  testing::TempDir dir;
  auto store = ModelMetadataStore::Create({dir.Join("m.db")});
  EXPECT_EQ((*store)->Get("nope", 0).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ((*store)->Get("nope", 3).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ((*store)->Delete("nope", 0).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ModelMetadataStoreTest, SurvivesReopen) {
  testing::TempDir dir;
  {
    auto store = ModelMetadataStore::Create({dir.Join("m.db")});
    ASSERT_TRUE((*store)->InsertNextVersion(Model("net", "aa")).ok());
  }
  auto store = ModelMetadataStore::Create({dir.Join("m.db")});
  ASSERT_TRUE(store.ok());
  auto m = (*store)->Get("net", 1);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->sha256(), "aa");
}

TEST(ModelMetadataStoreTest, ConcurrentInsertsGetDistinctVersions) {
  testing::TempDir dir;
  auto store = ModelMetadataStore::Create({dir.Join("m.db")});
  constexpr int kThreads = 8;
  std::vector<int64_t> versions(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      versions[i] = (*store)->InsertNextVersion(Model("net", "aa"))->version();
    });
  }
  for (auto& t : threads) t.join();
  std::sort(versions.begin(), versions.end());
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(versions[i], i + 1);
}

TEST(ModelMetadataStoreTest, UnopenableDatabaseNamesThePath) {
  testing::TempDir dir;
  auto store = ModelMetadataStore::Create({dir.Join("missing/dir/m.db")});
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("missing/dir/m.db"),
            std::string::npos);
}

TEST(ModelMetadataStoreTest, MustExistCreatesNothing) {
  testing::TempDir dir;
  const std::string path = dir.Join("m.db");
  ModelMetadataStoreOptions options;
  options.path = path;
  options.must_exist = true;
  auto missing = ModelMetadataStore::Create(options);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(missing.status().message().find(path), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path));

  // An empty file is an empty SQLite database: no schema, refused.
  std::ofstream(path).close();
  auto empty = ModelMetadataStore::Create(options);
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(std::filesystem::file_size(path), 0u);

  std::filesystem::remove(path);
  ASSERT_TRUE(ModelMetadataStore::Create({path}).ok());
  EXPECT_TRUE(ModelMetadataStore::Create(options).ok());
}

// A models.db written before the corrupt and validation columns existed
// opens unchanged (with must_exist, as the repository opens it) and gains
// them; its rows read as not yet validated.
TEST(ModelMetadataStoreTest, OldSchemaGainsCorruptAndValidationColumns) {
  testing::TempDir dir;
  const std::string path = dir.Join("m.db");
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec(R"SQL(
CREATE TABLE model_counters (name TEXT PRIMARY KEY,
                             last_version INTEGER NOT NULL);
CREATE TABLE model_versions (
  name TEXT NOT NULL, version INTEGER NOT NULL, format INTEGER NOT NULL,
  description TEXT NOT NULL DEFAULT '', sha256 TEXT NOT NULL,
  size_bytes INTEGER NOT NULL, created_unix_ms INTEGER NOT NULL,
  parameter_count INTEGER NOT NULL DEFAULT 0,
  parameter_bytes INTEGER NOT NULL DEFAULT 0,
  forward_input_count INTEGER NOT NULL DEFAULT 0,
  example_input_shape TEXT NOT NULL DEFAULT '',
  output_shape TEXT NOT NULL DEFAULT '', flops INTEGER NOT NULL DEFAULT 0,
  parent_name TEXT NOT NULL DEFAULT '',
  parent_version INTEGER NOT NULL DEFAULT 0,
  job_id TEXT NOT NULL DEFAULT '', policy TEXT NOT NULL DEFAULT '',
  report BLOB, PRIMARY KEY (name, version));
INSERT INTO model_counters VALUES('net', 2);
INSERT INTO model_versions(name, version, format, sha256, size_bytes,
                           created_unix_ms)
  VALUES('net', 2, 1, 'aa', 10, 1000);
)SQL");
  }
  ModelMetadataStoreOptions options;
  options.path = path;
  options.must_exist = true;
  auto store = ModelMetadataStore::Create(options);
  ASSERT_TRUE(store.ok()) << store.status();
  auto old = (*store)->Get("net", 2);
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->sha256(), "aa");
  EXPECT_FALSE(old->corrupt());
  EXPECT_EQ(*(*store)->SetCorrupt("aa", true), 1);
  EXPECT_EQ(*(*store)->SetCorrupt("aa", true), 0);  // already marked
  EXPECT_TRUE((*store)->Get("net", 2)->corrupt());
  EXPECT_EQ((*store)->Totals()->corrupt_versions, 1);
  EXPECT_EQ((*store)->InsertNextVersion(Model("net", "bb"))->version(), 3);
  EXPECT_FALSE((*store)->Get("net", 3)->corrupt());
  EXPECT_EQ(*(*store)->SetCorrupt("aa", false), 1);
  EXPECT_EQ((*store)->Totals()->corrupt_versions, 0);

  EXPECT_EQ(old->validation(), v1::MODEL_VALIDATION_UNSPECIFIED);
  ASSERT_TRUE((*store)
                  ->SetValidation("net", 2, v1::MODEL_VALIDATION_FAILED,
                                  "forbidden op aten::from_file")
                  .ok());
  auto marked = (*store)->Get("net", 2);
  EXPECT_EQ(marked->validation(), v1::MODEL_VALIDATION_FAILED);
  EXPECT_EQ(marked->validation_error(), "forbidden op aten::from_file");
  EXPECT_EQ(
      (*store)->SetValidation("net", 9, v1::MODEL_VALIDATION_PASSED, "").code(),
      absl::StatusCode::kNotFound);
  // Survives a reopen, and new rows keep what they were inserted with.
  v1::ModelVersion passed = Model("net", "cc");
  passed.set_validation(v1::MODEL_VALIDATION_PASSED);
  ASSERT_TRUE((*store)->InsertNextVersion(passed).ok());
  store->reset();
  auto reopened = ModelMetadataStore::Create(options);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->Get("net", 2)->validation(),
            v1::MODEL_VALIDATION_FAILED);
  EXPECT_EQ((*reopened)->Get("net", 4)->validation(),
            v1::MODEL_VALIDATION_PASSED);
}

// Rows re-created from version records keep their number and creation
// time, and the counter never goes back.
TEST(ModelMetadataStoreTest, RestoreVersionKeepsNumbersAndRaisesCounter) {
  testing::TempDir dir;
  auto store = ModelMetadataStore::Create({dir.Join("m.db")});
  ASSERT_TRUE(store.ok());
  v1::ModelVersion m = Model("net", "aa");
  m.set_version(7);
  m.set_created_unix_ms(1234);
  ASSERT_TRUE((*store)->RestoreVersion(m).ok());
  m.set_version(3);
  ASSERT_TRUE((*store)->RestoreVersion(m).ok());
  EXPECT_EQ((*store)->RestoreVersion(m).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ((*store)->Get("net", 7)->created_unix_ms(), 1234);
  EXPECT_EQ((*store)->Get("net", 0)->version(), 7);
  EXPECT_EQ((*store)->InsertNextVersion(Model("net", "bb"))->version(), 8);
}

}  // namespace
}  // namespace pruneserve
