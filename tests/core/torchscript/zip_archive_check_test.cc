#include "core/torchscript/zip_archive_check.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/util/limit_status.h"
#include "gtest/gtest.h"
#include "tests/testing/hostile_models.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tiny_models.h"

namespace pruneserve {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

void Put32(std::string* s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*s)[at + i] = static_cast<char>(v >> (8 * i));
}

TEST(ZipArchiveCheckTest, SavedModelPasses) {
  testing::TempDir dir;
  const std::string path = dir.Join("tiny.pt");
  testing::WriteTinyCnn(path);
  auto summary = CheckZipArchive(path, ZipArchiveLimits());
  ASSERT_TRUE(summary.ok()) << summary.status();
  // data.pkl, constants.pkl, version, code and debug files, 7 tensors.
  EXPECT_GE(summary->entries, 10);
  EXPECT_GT(summary->uncompressed_bytes, (36 + 8 + 8 + 50) * 4);
  EXPECT_EQ(summary->root, "tiny");
}

TEST(ZipArchiveCheckTest, GigabyteBombIsRefusedFromTheDirectoryAlone) {
  testing::TempDir dir;
  const std::string path = dir.Join("bomb.pt");
  testing::WriteZipBombModel(path, int64_t{1} << 30);
  // About 1 KiB per MiB of zeros.
  EXPECT_LT(std::filesystem::file_size(path), 2 * kMiB);
  ZipArchiveLimits limits;
  limits.max_uncompressed_bytes = 256 * kMiB;
  auto summary = CheckZipArchive(path, limits);
  ASSERT_EQ(summary.status().code(), absl::StatusCode::kResourceExhausted)
      << summary.status();
  EXPECT_EQ(ExceededLimit(summary.status()), "max_model_bytes");
  EXPECT_NE(summary.status().message().find("uncompressed"), std::string::npos)
      << summary.status();
  EXPECT_NE(summary.status().message().find("1073741824"), std::string::npos)
      << summary.status();
}

TEST(ZipArchiveCheckTest, SmallDeflatedModelUnderTheCapPasses) {
  testing::TempDir dir;
  const std::string path = dir.Join("zeros.pt");
  testing::WriteZipBombModel(path, 8 * kMiB);
  ZipArchiveLimits limits;
  limits.max_uncompressed_bytes = 256 * kMiB;
  auto summary = CheckZipArchive(path, limits);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_GE(summary->uncompressed_bytes, 8 * kMiB);
  EXPECT_LT(summary->uncompressed_bytes, 9 * kMiB);
}

TEST(ZipArchiveCheckTest, EntryThatInflatesBeyondItsDeclaredSizeIsRefused) {
  testing::TempDir dir;
  const std::string path = dir.Join("liar.pt");
  testing::WriteZipBombModel(path, 8 * kMiB);
  // Declare 1 MiB for the 8 MiB record, in its local and central headers.
  std::string bytes = ReadAll(path);
  const std::string name = "archive/data/0";
  int patched = 0;
  for (size_t at = bytes.find(name); at != std::string::npos;
       at = bytes.find(name, at + 1)) {
    if (at >= 30 && bytes.compare(at - 30, 4, "PK\x03\x04") == 0) {
      Put32(&bytes, at - 30 + 22, kMiB);
      ++patched;
    } else if (at >= 46 && bytes.compare(at - 46, 4, "PK\x01\x02") == 0) {
      Put32(&bytes, at - 46 + 24, kMiB);
      ++patched;
    }
  }
  ASSERT_EQ(patched, 2);
  WriteAll(path, bytes);
  auto summary = CheckZipArchive(path, ZipArchiveLimits());
  ASSERT_EQ(summary.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(
      summary.status().message().find(
          "\"archive/data/0\" inflates to more than its declared 1048576"),
      std::string::npos)
      << summary.status();
}

TEST(ZipArchiveCheckTest, TooManyEntriesIsRefused) {
  testing::TempDir dir;
  const std::string path = dir.Join("tiny.pt");
  testing::WriteTinyCnn(path);
  ZipArchiveLimits limits;
  limits.max_entries = 3;
  auto summary = CheckZipArchive(path, limits);
  ASSERT_EQ(summary.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ExceededLimit(summary.status()), "max_model_zip_entries");
  EXPECT_NE(summary.status().message().find("the limit is 3"),
            std::string::npos)
      << summary.status();
}

TEST(ZipArchiveCheckTest, GarbageAndTruncatedFilesAreInvalidArgument) {
  testing::TempDir dir;
  const std::string junk = dir.Join("junk.pt");
  WriteAll(junk, "this is not a zip archive");
  auto s = CheckZipArchive(junk, ZipArchiveLimits()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("not a loadable TorchScript archive: not a zip"),
            std::string::npos)
      << s;

  const std::string cut = dir.Join("cut.pt");
  testing::WriteTinyCnn(cut);
  std::string bytes = ReadAll(cut);
  WriteAll(cut, bytes.substr(0, bytes.size() - 30));
  s = CheckZipArchive(cut, ZipArchiveLimits()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

TEST(ZipArchiveCheckTest, DirectoryPointingPastItsEndIsInvalidArgument) {
  testing::TempDir dir;
  const std::string path = dir.Join("tiny.pt");
  testing::WriteTinyCnn(path);
  std::string bytes = ReadAll(path);
  // PyTorch writes zip64 end records, whose offset field then counts.
  const size_t zip64_end = bytes.rfind(std::string("PK\x06\x06", 4));
  ASSERT_NE(zip64_end, std::string::npos);
  Put32(&bytes, zip64_end + 48, 0x7FFFFFF0);  // central directory offset
  WriteAll(path, bytes);
  auto s = CheckZipArchive(path, ZipArchiveLimits()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("outside the file"), std::string::npos) << s;
}

TEST(ZipArchiveCheckTest, MissingFileIsNotFound) {
  auto s = CheckZipArchive("/nonexistent/model.pt", ZipArchiveLimits());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound) << s.status();
}

}  // namespace
}  // namespace pruneserve
