#include "core/repository/version_record_store.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve {
namespace {

namespace fs = std::filesystem;

v1::ModelVersion Version(const std::string& name, int64_t version) {
  v1::ModelVersion m;
  m.set_name(name);
  m.set_version(version);
  m.set_sha256(std::string(64, 'a'));
  m.set_description("d");
  m.set_corrupt(true);
  return m;
}

TEST(VersionRecordStoreTest, WritesListsAndRemovesRecords) {
  testing::TempDir dir;
  auto store = VersionRecordStore::Create({dir.Join("records")});
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Write(Version("net", 1)).ok());
  ASSERT_TRUE((*store)->Write(Version("net", 12)).ok());
  ASSERT_TRUE((*store)->Write(Version("other", 3)).ok());
  EXPECT_TRUE(fs::exists(dir.Join("records/net/12.pb")));

  VersionRecordListing listing = (*store)->List();
  EXPECT_TRUE(listing.unreadable.empty());
  ASSERT_EQ(listing.records.size(), 3u);
  for (const v1::ModelVersion& r : listing.records) {
    EXPECT_EQ(r.description(), "d");
    // The mark describes the blob, not the version: never recorded.
    EXPECT_FALSE(r.corrupt());
  }
  ASSERT_TRUE((*store)->Remove("net", 12).ok());
  ASSERT_TRUE((*store)->Remove("net", 12).ok());  // already gone
  EXPECT_EQ((*store)->List().records.size(), 2u);
}

TEST(VersionRecordStoreTest, BadRecordsAreReportedNotParsed) {
  testing::TempDir dir;
  auto store = VersionRecordStore::Create({dir.Join("records")});
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Write(Version("net", 1)).ok());
  // Garbage bytes, a record filed under the wrong version, a stray name, a
  // sha256 that is a path, and a temp file of an interrupted write
  // (ignored).
  std::ofstream(dir.Join("records/net/2.pb")) << "\xff\xff\xff";
  std::ofstream(dir.Join("records/net/3.pb"))
      << Version("net", 4).SerializeAsString();
  std::ofstream(dir.Join("records/net/notes.txt")) << "x";
  v1::ModelVersion escape = Version("net", 5);
  escape.set_sha256("../../../etc/passwd");
  std::ofstream(dir.Join("records/net/5.pb")) << escape.SerializeAsString();
  std::ofstream(dir.Join("records/net/1.pb.tmp.77")) << "partial";
  VersionRecordListing listing = (*store)->List();
  ASSERT_EQ(listing.records.size(), 1u);
  EXPECT_EQ(listing.records[0].version(), 1);
  EXPECT_EQ(listing.unreadable.size(), 4u);

  EXPECT_EQ((*store)->Write(Version("../x", 1)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*store)->Write(Version("net", 0)).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pruneserve
