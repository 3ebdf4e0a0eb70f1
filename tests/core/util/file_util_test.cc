#include "core/util/file_util.h"

#include <filesystem>

#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve {
namespace {

TEST(FileUtilTest, WriteFileAtomicallyReplacesContent) {
  testing::TempDir dir;
  std::string path = dir.Join("f.txt");
  ASSERT_TRUE(WriteFileAtomically(path, "first").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "second").ok());
  auto content = ReadFileToString(path);
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, "second");
  // No temp files are left behind.
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST(FileUtilTest, ReadMissingFileIsNotFound) {
  testing::TempDir dir;
  EXPECT_EQ(ReadFileToString(dir.Join("missing")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(FileUtilTest, WriteIntoMissingDirectoryFails) {
  testing::TempDir dir;
  absl::Status s = WriteFileAtomically(dir.Join("no/such/dir/f"), "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find("no/such/dir"), std::string::npos);
}

TEST(FileUtilTest, MakeDirectoriesIsIdempotent) {
  testing::TempDir dir;
  EXPECT_TRUE(MakeDirectories(dir.Join("a/b/c")).ok());
  EXPECT_TRUE(MakeDirectories(dir.Join("a/b/c")).ok());
  EXPECT_TRUE(std::filesystem::is_directory(dir.Join("a/b/c")));
}

// Durability itself (the fsync of each new directory's parent) is not
// observable without a crash; this pins what the function creates and
// refuses.
TEST(FileUtilTest, MakeDirectoriesDurablyCreatesEveryMissingLevel) {
  testing::TempDir dir;
  EXPECT_TRUE(MakeDirectoriesDurably(dir.Join("a/b/c/")).ok());
  EXPECT_TRUE(std::filesystem::is_directory(dir.Join("a/b/c")));
  EXPECT_TRUE(MakeDirectoriesDurably(dir.Join("a/b/c")).ok());
  EXPECT_TRUE(MakeDirectoriesDurably(dir.Join("a/b/d")).ok());
  EXPECT_TRUE(std::filesystem::is_directory(dir.Join("a/b/d")));

  ASSERT_TRUE(WriteFileAtomically(dir.Join("a/file"), "x").ok());
  EXPECT_FALSE(MakeDirectoriesDurably(dir.Join("a/file")).ok());
  absl::Status under_file = MakeDirectoriesDurably(dir.Join("a/file/sub"));
  EXPECT_FALSE(under_file.ok());
  EXPECT_NE(under_file.message().find("a/file"), std::string::npos)
      << under_file;
}

}  // namespace
}  // namespace pruneserve
