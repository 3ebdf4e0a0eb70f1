#include "core/storage/blob_store.h"

#include <filesystem>
#include <fstream>

#include "core/util/file_util.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve {
namespace {

size_t CountFiles(const std::string& dir) {
  size_t n = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) ++n;
  }
  return n;
}

TEST(BlobStoreTest, CommittedBlobIsContentAddressed) {
  testing::TempDir dir;
  auto store = BlobStore::Create({dir.path()});
  ASSERT_TRUE(store.ok());
  auto writer = (*store)->NewWriter();
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("hello ").ok());
  ASSERT_TRUE((*writer)->Append("world").ok());
  EXPECT_EQ((*writer)->bytes_written(), 11);
  auto sha = (*writer)->Seal();
  ASSERT_TRUE(sha.ok());
  EXPECT_EQ(*sha, Sha256Hex("hello world"));
  EXPECT_FALSE((*store)->Contains(*sha));  // not visible before Commit
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_TRUE((*store)->Contains(*sha));
  EXPECT_EQ(*ReadFileToString((*store)->PathFor(*sha)), "hello world");
  EXPECT_EQ(*(*store)->SizeOf(*sha), 11);
  EXPECT_EQ((*store)->List(), std::vector<std::string>{*sha});
  EXPECT_EQ(CountFiles((*store)->tmp_dir()), 0u);
}

TEST(BlobStoreTest, DestroyedWriterLeavesNothing) {
  testing::TempDir dir;
  auto store = BlobStore::Create({dir.path()});
  ASSERT_TRUE(store.ok());
  {
    auto writer = (*store)->NewWriter();
    ASSERT_TRUE((*writer)->Append("partial").ok());
    EXPECT_EQ(CountFiles((*store)->tmp_dir()), 1u);
  }
  EXPECT_EQ(CountFiles((*store)->tmp_dir()), 0u);
  EXPECT_TRUE((*store)->List().empty());
}

TEST(BlobStoreTest, SameBytesShareOneBlob) {
  testing::TempDir dir;
  auto store = BlobStore::Create({dir.path()});
  for (int i = 0; i < 2; ++i) {
    auto writer = (*store)->NewWriter();
    ASSERT_TRUE((*writer)->Append("same").ok());
    ASSERT_TRUE((*writer)->Seal().ok());
    ASSERT_TRUE((*writer)->Commit().ok());
  }
  EXPECT_EQ((*store)->List().size(), 1u);
  EXPECT_EQ(CountFiles((*store)->tmp_dir()), 0u);
}

TEST(BlobStoreTest, CommitBeforeSealIsRejected) {
  testing::TempDir dir;
  auto store = BlobStore::Create({dir.path()});
  auto writer = (*store)->NewWriter();
  EXPECT_EQ((*writer)->Commit().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*writer)->Seal().ok());
  EXPECT_EQ((*writer)->Append("late").code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(BlobStoreTest, CreateRemovesInterruptedUploads) {
  testing::TempDir dir;
  ASSERT_TRUE(MakeDirectories(dir.Join("tmp")).ok());
  std::ofstream(dir.Join("tmp/upload_leftover")) << "half a model";
  auto store = BlobStore::Create({dir.path()});
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(CountFiles((*store)->tmp_dir()), 0u);
}

TEST(BlobStoreTest, RemoveIsIdempotent) {
  testing::TempDir dir;
  auto store = BlobStore::Create({dir.path()});
  auto writer = (*store)->NewWriter();
  ASSERT_TRUE((*writer)->Append("x").ok());
  auto sha = (*writer)->Seal();
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_TRUE((*store)->Remove(*sha).ok());
  EXPECT_FALSE((*store)->Contains(*sha));
  EXPECT_TRUE((*store)->Remove(*sha).ok());
  EXPECT_EQ((*store)->SizeOf(*sha).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace pruneserve
