// Nothing lost, end to end: the real server and prunectl binaries against a
// data directory whose index is deleted or whose blobs rot on disk.
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "client/repository_client.h"
#include "core/util/sha256.h"
#include "gtest/gtest.h"
#include "tests/testing/http_get.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tiny_models.h"

namespace pruneserve {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;

CommandResult Prunectl(const std::string& server, const std::string& args) {
  return testing::RunPrunectl(absl::StrCat("--server ", server, " ", args));
}

// Runs the built pruneserve with `args` and captures stdout and stderr.
CommandResult RunPruneserve(const std::string& args) {
  return testing::RunCommand(
      absl::StrCat(testing::BuiltBinary("server/pruneserve"), " ", args));
}

std::string FileSha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  return Sha256Hex(bytes);
}

std::string BlobPath(const std::string& data, const std::string& sha) {
  return absl::StrCat(data, "/blobs/", sha.substr(0, 2), "/", sha);
}

// models.db deleted with three models stored: the server refuses to start
// naming the recovery, --rebuild_index restores all three from their
// records, and they list and download with their sha256 again.
TEST(DurabilityE2eTest, RebuildIndexRestoresModelsAfterModelsDbIsDeleted) {
  testing::TempDir dir;
  const std::string data = dir.Join("data");
  std::map<std::string, std::string> uploaded;  // name -> sha256
  {
    auto server = testing::ServerProcess::Start(data);
    ASSERT_TRUE(server.ok()) << server.status();
    for (int seed = 0; seed < 3; ++seed) {
      const std::string name = absl::StrCat("net", seed);
      const std::string path = dir.Join(name + ".pt");
      testing::WriteTinyCnn(path, seed);
      CommandResult r =
          Prunectl((*server)->grpc_address(),
                   absl::StrCat("model upload ", path, " --name ", name,
                                " --description 'model ", seed, "'"));
      ASSERT_EQ(r.exit_code, 0) << r.output;
      uploaded[name] = FileSha256(path);
    }
    int status = (*server)->Stop(SIGTERM);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  for (const char* suffix : {"", "-wal", "-shm"}) {
    fs::remove(data + "/models.db" + suffix);
  }

  auto refused = testing::ServerProcess::Start(data);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--rebuild_index"),
            std::string::npos)
      << refused.status();
  for (const auto& [name, sha] : uploaded) {
    EXPECT_TRUE(fs::exists(BlobPath(data, sha))) << name;
  }

  CommandResult rebuilt =
      RunPruneserve(absl::StrCat("--data_dir=", data, " --rebuild_index"));
  ASSERT_EQ(rebuilt.exit_code, 0) << rebuilt.output;
  EXPECT_NE(rebuilt.output.find("3 version(s) restored"), std::string::npos)
      << rebuilt.output;
  EXPECT_NE(rebuilt.output.find("0 unlisted blob(s) moved"), std::string::npos)
      << rebuilt.output;

  auto server = testing::ServerProcess::Start(data);
  ASSERT_TRUE(server.ok()) << server.status();
  client::RepositoryClient client(
      client::MakeChannel((*server)->grpc_address()));
  auto models = client.List("");
  ASSERT_TRUE(models.ok()) << models.status();
  ASSERT_EQ(models->size(), 3u);
  for (const auto& m : *models) {
    EXPECT_EQ(m.version(), 1);
    EXPECT_EQ(uploaded[m.name()], m.sha256()) << m.name();
    EXPECT_EQ(m.description(), absl::StrCat("model ", m.name().substr(3)));
    const std::string out = dir.Join("check.pt");
    auto got = client.Download(m.name(), m.version(), out);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(FileSha256(out), m.sha256());
  }
  CommandResult verify = Prunectl((*server)->grpc_address(), "model verify");
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_NE(verify.output.find("3 version(s) verified: 3 ok, 0 bad"),
            std::string::npos)
      << verify.output;
  // Numbering continues where it was.
  CommandResult next =
      Prunectl((*server)->grpc_address(),
               absl::StrCat("model upload ", dir.Join("net0.pt"),
                            " --name net0 --json"));
  ASSERT_EQ(next.exit_code, 0) << next.output;
  EXPECT_NE(next.output.find("\"version\": \"2\""), std::string::npos)
      << next.output;
}

// A blob that rots on disk: download and load are DATA_LOSS naming the
// version, list and verify show it, the metric counts it, and uploading the
// same file again repairs it; other models keep serving throughout.
TEST(DurabilityE2eTest, CorruptBlobIsRefusedReportedAndRepairedByReupload) {
  testing::TempDir dir;
  const std::string data = dir.Join("data");
  auto server = testing::ServerProcess::Start(data);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string addr = (*server)->grpc_address();
  const std::string good = dir.Join("good.pt");
  const std::string bad = dir.Join("bad.pt");
  testing::WriteTinyCnn(good, 1);
  testing::WriteTinyCnn(bad, 2);
  ASSERT_EQ(Prunectl(addr, absl::StrCat("model upload ", good)).exit_code, 0);
  ASSERT_EQ(Prunectl(addr, absl::StrCat("model upload ", bad)).exit_code, 0);
  const std::string blob = BlobPath(data, FileSha256(bad));
  {
    std::fstream f(blob, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x55');
  }

  CommandResult download = Prunectl(
      addr, absl::StrCat("model download bad:1 -o ", dir.Join("x.pt")));
  EXPECT_EQ(download.exit_code, 1);
  EXPECT_NE(download.output.find("DATA_LOSS"), std::string::npos)
      << download.output;
  EXPECT_NE(download.output.find("bad:1"), std::string::npos)
      << download.output;
  CommandResult load = Prunectl(addr, "serve load bad");
  EXPECT_NE(load.exit_code, 0);
  EXPECT_NE(load.output.find("bad:1 is marked corrupt"), std::string::npos)
      << load.output;
  CommandResult list = Prunectl(addr, "model list bad");
  EXPECT_NE(list.output.find("CORRUPT"), std::string::npos) << list.output;
  CommandResult verify = Prunectl(addr, "model verify");
  EXPECT_EQ(verify.exit_code, 1) << verify.output;
  EXPECT_NE(verify.output.find("2 version(s) verified: 1 ok, 1 bad"),
            std::string::npos)
      << verify.output;
  auto metrics = testing::HttpGet((*server)->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_NE(metrics->find("pruneserve_repository_corrupt_versions 1"),
            std::string::npos);
  // The good model is untouched.
  EXPECT_EQ(Prunectl(addr, "serve load good").exit_code, 0);

  ASSERT_EQ(Prunectl(addr, absl::StrCat("model upload ", bad)).exit_code, 0);
  verify = Prunectl(addr, "model verify bad");
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_NE(verify.output.find("2 version(s) verified: 2 ok, 0 bad"),
            std::string::npos)
      << verify.output;
  EXPECT_EQ(Prunectl(addr, "serve load bad:1").exit_code, 0);
  EXPECT_EQ(FileSha256(blob), FileSha256(bad));
}

}  // namespace
}  // namespace pruneserve
