#include "core/storage/data_dir_lock.h"

#include <unistd.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve {
namespace {

TEST(DataDirLockTest, SecondHolderIsRefusedUntilTheFirstGoes) {
  testing::TempDir dir;
  const std::string data = dir.Join("data");
  auto first = DataDirLock::Acquire(data);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(std::filesystem::is_directory(data));
  EXPECT_EQ((*first)->path(), data + "/LOCK");

  // flock locks belong to the open file, so a second open in this process
  // conflicts exactly as another process would.
  auto second = DataDirLock::Acquire(data);
  ASSERT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find(data), std::string::npos)
      << second.status();
  EXPECT_NE(second.status().message().find(absl::StrCat("pid ", ::getpid())),
            std::string::npos)
      << second.status();

  first->reset();
  auto third = DataDirLock::Acquire(data);
  EXPECT_TRUE(third.ok()) << third.status();
}

TEST(DataDirLockTest, UnusableDirectoryIsAnError) {
  testing::TempDir dir;
  const std::string file = dir.Join("file");
  FILE* f = fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  auto lock = DataDirLock::Acquire(file + "/data");
  EXPECT_FALSE(lock.ok());
}

}  // namespace
}  // namespace pruneserve
