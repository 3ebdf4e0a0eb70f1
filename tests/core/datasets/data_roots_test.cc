#include "core/datasets/data_roots.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::datasets {
namespace {

using ::pruneserve::testing::TempDir;
namespace fs = std::filesystem;

class DataRootsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.Join("root/data/sub"));
    fs::create_directories(dir_.Join("outside/secret"));
    std::ofstream(dir_.Join("root/data/file")) << "x";
    fs::create_directory_symlink(dir_.Join("outside/secret"),
                                 dir_.Join("root/escape"));
    fs::create_directory_symlink(dir_.Join("root/data/sub"),
                                 dir_.Join("root/inner"));
    auto roots = DataRoots::Create({dir_.Join("root")});
    ASSERT_TRUE(roots.ok()) << roots.status();
    roots_ = *std::move(roots);
  }
  std::string Real(const std::string& rel) const {
    return fs::canonical(dir_.Join(rel)).string();
  }

  TempDir dir_;
  DataRoots roots_;
};

TEST_F(DataRootsTest, AcceptsDirectoriesInsideARoot) {
  EXPECT_EQ(*roots_.ResolveDirectory(dir_.Join("root/data")),
            Real("root/data"));
  EXPECT_EQ(*roots_.ResolveDirectory(dir_.Join("root")), Real("root"));
  // A symlink that stays inside is fine; the result is its target.
  EXPECT_EQ(*roots_.ResolveDirectory(dir_.Join("root/inner")),
            Real("root/data/sub"));
  EXPECT_EQ(*roots_.ResolveEntry(dir_.Join("root/data/file")),
            Real("root/data/file"));
}

TEST_F(DataRootsTest, RefusesEscapesWithOneMessageWhetherOrNotTheyExist) {
  const std::string missing_outside = dir_.Join("outside/nope");
  const std::string existing_outside = dir_.Join("outside/secret");
  const std::vector<std::string> refused = {
      dir_.Join("root/../outside/secret"),  // traversal
      dir_.Join("root/escape"),             // symlink out
      existing_outside,
      missing_outside,
      dir_.Join("root/nope"),       // missing inside
      dir_.Join("root/data/file"),  // not a directory
      "relative/path",
      "/etc",
  };
  for (const std::string& path : refused) {
    SCOPED_TRACE(path);
    auto r = roots_.ResolveDirectory(path);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    // The message is the same template for every reason: only the path
    // the caller sent differs.
    EXPECT_EQ(r.status(), roots_.Refusal(path));
  }
  EXPECT_NE(roots_.Refusal(missing_outside).message().find("--data_roots"),
            std::string::npos);
}

TEST_F(DataRootsTest, WithoutRootsEveryPathIsRefused) {
  DataRoots none;
  auto r = none.ResolveDirectory(dir_.Join("root/data"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("without --data_roots"),
            std::string::npos);
}

TEST_F(DataRootsTest, RootsMustBeAbsoluteDirectories) {
  EXPECT_FALSE(DataRoots::Create({"relative"}).ok());
  EXPECT_FALSE(DataRoots::Create({dir_.Join("root/data/file")}).ok());
  EXPECT_FALSE(DataRoots::Create({dir_.Join("missing")}).ok());
  // A root that is itself a symlink is resolved once.
  auto via_link = DataRoots::Create({dir_.Join("root/inner")});
  ASSERT_TRUE(via_link.ok());
  EXPECT_EQ(via_link->roots()[0], Real("root/data/sub"));
}

}  // namespace
}  // namespace pruneserve::datasets
