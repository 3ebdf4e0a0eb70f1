// The model repository end to end: the real server binary, the real prunectl
// binary, SIGKILL in the middle, restart on the same data directory.
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
#include "nlohmann/json.hpp"
#include "tests/testing/http_get.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tiny_models.h"

namespace pruneserve {
namespace {

using testing::CommandResult;

// Runs prunectl with `args` against `server`.
CommandResult Prunectl(const std::string& server, const std::string& args) {
  return testing::RunPrunectl(absl::StrCat("--server ", server, " ", args));
}

std::string FileSha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  return Sha256Hex(bytes);
}

TEST(RepositoryE2eTest, AcknowledgedModelsSurviveSigkill) {
  testing::TempDir dir;
  std::string data = dir.Join("data");
  std::map<std::string, std::string> acknowledged;  // name:version -> sha256

  auto server = testing::ServerProcess::Start(data);
  ASSERT_TRUE(server.ok()) << server.status();
  for (int seed = 0; seed < 3; ++seed) {
    std::string path = dir.Join(absl::StrCat("model", seed, ".pt"));
    testing::WriteTinyCnn(path, seed);
    CommandResult r =
        Prunectl((*server)->grpc_address(),
                 absl::StrCat("model upload ", path,
                              " --name tiny --input-shape 1,1,28,28 --json"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto json = nlohmann::json::parse(r.output);
    EXPECT_EQ(json["sha256"], FileSha256(path));
    EXPECT_EQ(json["output_shape"], nlohmann::json::array({"1", "10"}));
    acknowledged[absl::StrCat("tiny:", std::string(json["version"]))] =
        json["sha256"];
  }
  EXPECT_EQ(acknowledged.size(), 3u);

  // Crash hard, then restart on the same directory.
  int status = (*server)->Stop(SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(status));
  auto restarted = testing::ServerProcess::Start(data);
  ASSERT_TRUE(restarted.ok()) << restarted.status();

  client::RepositoryClient client(
      client::MakeChannel((*restarted)->grpc_address()));
  auto models = client.List("");
  ASSERT_TRUE(models.ok()) << models.status();
  ASSERT_EQ(models->size(), acknowledged.size());
  for (const auto& m : *models) {
    std::string key = absl::StrCat(m.name(), ":", m.version());
    EXPECT_EQ(acknowledged[key], m.sha256()) << key;
    std::string out = dir.Join("check.pt");
    ASSERT_TRUE(client.Download(m.name(), m.version(), out).ok());
    EXPECT_EQ(FileSha256(out), m.sha256());
  }
  // The next upload continues the version sequence.
  std::string path = dir.Join("model0.pt");
  CommandResult r = Prunectl((*restarted)->grpc_address(),
                             "model upload " + path + " --name tiny --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output)["version"], "4");
  EXPECT_EQ(WEXITSTATUS((*restarted)->Stop(SIGTERM)), 0);
}

TEST(RepositoryE2eTest, CliPrintsTablesErrorsAndMetrics) {
  testing::TempDir dir;
  auto server = testing::ServerProcess::Start(dir.Join("data"));
  ASSERT_TRUE(server.ok()) << server.status();
  std::string addr = (*server)->grpc_address();
  std::string path = dir.Join("tiny.pt");
  testing::WriteTinyCnn(path);

  CommandResult up = Prunectl(addr, "model upload " + path + " --name cnn");
  ASSERT_EQ(up.exit_code, 0) << up.output;
  EXPECT_NE(up.output.find("parameters:"), std::string::npos);

  CommandResult list = Prunectl(addr, "model list");
  ASSERT_EQ(list.exit_code, 0);
  EXPECT_NE(list.output.find("NAME"), std::string::npos);
  EXPECT_NE(list.output.find("cnn"), std::string::npos);

  CommandResult show = Prunectl(addr, "model show cnn:1");
  ASSERT_EQ(show.exit_code, 0);
  EXPECT_NE(show.output.find(FileSha256(path)), std::string::npos);

  std::string junk = dir.Join("junk.pt");
  std::ofstream(junk) << "not a model";
  CommandResult bad = Prunectl(addr, "model upload " + junk);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("INVALID_ARGUMENT"), std::string::npos)
      << bad.output;

  CommandResult missing = Prunectl(addr, "model rm ghost");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("NOT_FOUND"), std::string::npos);

  // The server is still up and kept the good model.
  CommandResult rm = Prunectl(addr, "model rm cnn:1");
  ASSERT_EQ(rm.exit_code, 0) << rm.output;
  EXPECT_NE(rm.output.find("deleted 1 version"), std::string::npos);

  auto metrics = testing::HttpGet((*server)->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(testing::MetricValue(
                *metrics, "pruneserve_repository_uploads_total{result=\"ok\"}"),
            1);
  EXPECT_EQ(
      testing::MetricValue(*metrics, "pruneserve_repository_deletes_total"), 1);
  EXPECT_EQ(
      testing::MetricValue(*metrics, "pruneserve_repository_model_versions"),
      0);
}

TEST(RepositoryE2eTest, SigtermDuringUploadExitsCleanlyAndStoresNothing) {
  testing::TempDir dir;
  std::string data = dir.Join("data");
  auto server =
      testing::ServerProcess::Start(data, {"--shutdown_grace_seconds=1"});
  ASSERT_TRUE(server.ok()) << server.status();
  client::RepositoryClient client(
      client::MakeChannel((*server)->grpc_address()));

  grpc::ClientContext context;
  v1::UploadModelResponse response;
  auto writer = client.stub().UploadModel(&context, &response);
  v1::UploadModelRequest request;
  request.mutable_header()->set_name("interrupted");
  request.mutable_header()->set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
  ASSERT_TRUE(writer->Write(request));
  request.set_chunk(std::string(64 << 10, 'x'));
  ASSERT_TRUE(writer->Write(request));

  // The upload is in flight and never finishes: SIGTERM must still stop the
  // server within the grace period and fail the call with a clear status.
  int status = (*server)->Stop(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  grpc::Status result = writer->Finish();
  EXPECT_FALSE(result.ok());
  EXPECT_TRUE(result.error_code() == grpc::StatusCode::CANCELLED ||
              result.error_code() == grpc::StatusCode::UNAVAILABLE)
      << result.error_code() << " " << result.error_message();

  auto restarted = testing::ServerProcess::Start(data);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  client::RepositoryClient again(
      client::MakeChannel((*restarted)->grpc_address()));
  EXPECT_TRUE(again.List("")->empty());
  EXPECT_TRUE(std::filesystem::is_empty(data + "/tmp"));
}

}  // namespace
}  // namespace pruneserve
