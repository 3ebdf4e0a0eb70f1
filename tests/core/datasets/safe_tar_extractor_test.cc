#include "core/datasets/safe_tar_extractor.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "core/util/limit_status.h"
#include "gtest/gtest.h"
#include "tests/testing/dataset_archives.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::datasets {
namespace {

using ::pruneserve::testing::TarBuilder;
using ::pruneserve::testing::TempDir;
namespace fs = std::filesystem;

class SafeTarExtractorTest : public ::testing::Test {
 protected:
  // Writes `archive` to a file, extracts it into a fresh dest/.
  absl::StatusOr<ExtractedFiles> Extract(const std::string& archive,
                                         const TarLimits& limits = {}) {
    const std::string path = dir_.Join("in.tar");
    std::ofstream(path, std::ios::binary) << archive;
    fs::remove_all(dest());
    fs::create_directories(dest());
    return ExtractTarSafely(path, dest(), limits);
  }
  std::string dest() const { return dir_.Join("root/dest"); }
  // Every path under the test directory except the archive and dest/.
  std::vector<std::string> Outside() const {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir_.path())) {
      const std::string p = e.path().string();
      if (p.rfind(dest(), 0) == 0 || p == dir_.Join("in.tar") ||
          p == dir_.Join("root")) {
        continue;
      }
      out.push_back(p);
    }
    return out;
  }

  TempDir dir_;
};

TEST_F(SafeTarExtractorTest, ExtractsFilesAndDirectories) {
  auto files = Extract(TarBuilder()
                           .Dir("a")
                           .File("a/one.txt", "hello")
                           .File("./b/c/two.bin", std::string(70000, 'x'))
                           .Build(/*gzip=*/true));
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->files,
            (std::vector<std::string>{"a/one.txt", "b/c/two.bin"}));
  EXPECT_EQ(files->bytes, 5 + 70000);
  EXPECT_EQ(fs::file_size(dest() + "/b/c/two.bin"), 70000u);
}

TEST_F(SafeTarExtractorTest, RefusesHostileEntriesAndWritesNothingOutside) {
  struct Case {
    const char* name;
    std::string archive;
    const char* message;
  };
  const Case cases[] = {
      {"traversal", TarBuilder().File("../x", "evil").Build(), "'..'"},
      {"nested traversal", TarBuilder().File("a/../../x", "evil").Build(),
       "'..'"},
      {"absolute", TarBuilder().File("/tmp/x", "evil").Build(),
       "absolute path"},
      {"symlink", TarBuilder().Symlink("link", "/etc").Build(),
       "symbolic link"},
      {"symlink then file through it",
       TarBuilder().Symlink("d", "..").File("d/x", "evil").Build(),
       "symbolic link"},
      {"hard link",
       TarBuilder().File("a", "x").HardLink("b", "/etc/passwd").Build(),
       "hard link"},
      {"device", TarBuilder().CharDevice("null").Build(), "character device"},
      {"fifo", TarBuilder().Fifo("pipe").Build(), "FIFO"},
      {"duplicate", TarBuilder().File("a", "1").File("a", "2").Build(),
       "duplicate"},
      {"file over directory",
       TarBuilder().File("a/b", "1").File("a", "2").Build(), "directory"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto files = Extract(c.archive);
    ASSERT_FALSE(files.ok());
    EXPECT_EQ(files.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(files.status().message().find(c.message), std::string::npos)
        << files.status();
    EXPECT_TRUE(Outside().empty()) << Outside()[0];
  }
}

TEST_F(SafeTarExtractorTest, RefusesWhatIsNotATar) {
  auto files = Extract("this is not an archive at all, just text");
  EXPECT_EQ(files.status().code(), absl::StatusCode::kInvalidArgument);
  files = Extract("");
  EXPECT_EQ(files.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SafeTarExtractorTest, CapsEntryCount) {
  TarBuilder b;
  for (int i = 0; i < 11; ++i) b.File("f" + std::to_string(i), "x");
  TarLimits limits;
  limits.max_entries = 10;
  auto files = Extract(b.Build(), limits);
  EXPECT_EQ(files.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ExceededLimit(files.status()), "dataset_max_entries");
}

TEST_F(SafeTarExtractorTest, CapsTotalSizeBeforeWritingTheEntry) {
  TarLimits limits;
  limits.max_extracted_bytes = 1000;
  auto files = Extract(TarBuilder()
                           .File("a", std::string(600, 'a'))
                           .File("b", std::string(600, 'b'))
                           .Build(),
                       limits);
  EXPECT_EQ(files.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ExceededLimit(files.status()), "dataset_max_extracted_mb");
  EXPECT_TRUE(fs::exists(dest() + "/a"));
  EXPECT_FALSE(fs::exists(dest() + "/b"));  // refused on its header
}

TEST_F(SafeTarExtractorTest, RefusesA10GiBSparseBombWithoutWritingIt) {
  fs::create_directories(dir_.Join("scratch_bomb"));
  const std::string bomb = ::pruneserve::testing::SparseBombTarGz(
      dir_.Join("scratch_bomb"), int64_t{10} << 30);
  EXPECT_LT(bomb.size(), 64u * 1024);  // a few KB on the wire
  auto files = Extract(bomb);          // default cap: 8 GiB
  ASSERT_EQ(files.status().code(), absl::StatusCode::kResourceExhausted)
      << files.status();
  EXPECT_NE(files.status().message().find("10737418240"), std::string::npos)
      << files.status();
  EXPECT_FALSE(fs::exists(dest() + "/bomb.bin"));
}

}  // namespace
}  // namespace pruneserve::datasets
