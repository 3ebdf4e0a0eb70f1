#include "core/storage/blob_store.h"

#include <filesystem>
#include <fstream>

#include "core/util/file_util.h"
#include "core/util/sha256.h"
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

std::string Store(BlobStore& store, const std::string& bytes) {
  auto writer = store.NewWriter();
  EXPECT_TRUE(writer.ok());
  EXPECT_TRUE((*writer)->Append(bytes).ok());
  auto sha = (*writer)->Seal();
  EXPECT_TRUE(sha.ok());
  EXPECT_TRUE((*writer)->Commit().ok());
  return *sha;
}

TEST(BlobStoreTest, VerifyRehashesTheStoredBytes) {
  testing::TempDir dir;
  auto store = BlobStore::Create({dir.path()});
  ASSERT_TRUE(store.ok());
  const std::string sha = Store(**store, "model bytes");
  EXPECT_TRUE((*store)->Verify(sha).ok());
  // Same size, one byte flipped: only a re-hash notices.
  ASSERT_TRUE(WriteFileAtomically((*store)->PathFor(sha), "model bytez").ok());
  absl::Status corrupt = (*store)->Verify(sha);
  EXPECT_EQ(corrupt.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(corrupt.message().find(Sha256Hex("model bytez")), std::string::npos)
      << corrupt;
  ASSERT_TRUE((*store)->Remove(sha).ok());
  EXPECT_EQ((*store)->Verify(sha).code(), absl::StatusCode::kNotFound);
}

// Deduplication used to keep whatever file had the name; a corrupt one would
// then stand for every later upload of the same bytes.
TEST(BlobStoreTest, CommitReplacesACorruptBlobOfTheSameName) {
  testing::TempDir dir;
  auto store = BlobStore::Create({dir.path()});
  ASSERT_TRUE(store.ok());
  const std::string sha = Store(**store, "model bytes");
  ASSERT_TRUE(WriteFileAtomically((*store)->PathFor(sha), "model").ok());
  EXPECT_EQ(Store(**store, "model bytes"), sha);
  EXPECT_EQ(*ReadFileToString((*store)->PathFor(sha)), "model bytes");
  EXPECT_TRUE((*store)->Verify(sha).ok());
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
