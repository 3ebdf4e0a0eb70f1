// Pruning jobs end to end: the real server and prunectl binaries over
// loopback, a zoo model fine-tuned on Fashion-MNIST subsets, the result
// registered with lineage; a server SIGKILLed mid-job resumes the job from
// its checkpoint; a cancelled job stops promptly.
#include <signal.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "client/job_client.h"
#include "client/repository_client.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/http_get.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve {
namespace {

using testing::CommandResult;

constexpr char kFashion[] = "/usr/share/datasets/fashion-mnist";
// The jobs name Fashion-MNIST by server path, which the server accepts only
// inside --data_roots.
constexpr char kDataRoots[] = "--data_roots=/usr/share/datasets";

CommandResult Cli(const std::string& args) {
  return testing::RunPrunectl(args);
}

class JobsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(std::string(kFashion) +
                                 "/train-images-idx3-ubyte.gz")) {
      GTEST_SKIP() << "dataset-fashion-mnist is not installed";
    }
  }

  // Builds a narrow VGG-11-BN and uploads it as "vgg" to `address`.
  void UploadVgg(const std::string& address) {
    const std::string model = dir_.Join("vgg.pt");
    CommandResult r = Cli(absl::StrCat(
        "zoo build vgg11_bn --in-channels 1 --input-size 28 --width 0.25 "
        "--out ",
        model));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = Cli(absl::StrCat("--server ", address, " model upload ", model,
                         " --name vgg --input-shape 1,1,28,28"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  static std::string DataFlags(int train_limit, int epochs,
                               const std::string& policy = "uniform") {
    const std::string f = std::string("fashion-mnist:") + kFashion;
    return absl::StrCat(" --train ", f, ":train --eval ", f,
                        ":test --train-limit ", train_limit,
                        " --eval-limit 200 --calib-images 64 --epochs ", epochs,
                        " --policy ", policy, " --criterion l1 ");
  }

  // Follows `id` until `stop` says so or the job ends; returns the last job.
  static v1::Job WatchUntil(const std::string& address, const std::string& id,
                            const std::function<bool(const v1::Job&)>& stop) {
    client::JobClient jobs(client::MakeChannel(address));
    auto last = jobs.Watch(id, [&](const v1::Job& j) { return !stop(j); });
    EXPECT_TRUE(last.ok()) << last.status();
    return last.ok() ? *last : v1::Job();
  }

  testing::TempDir dir_;
};

TEST_F(JobsE2eTest, SubmitWatchRegistersResultAndMetrics) {
  auto server = testing::ServerProcess::Start(dir_.Join("data"), {kDataRoots});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string s = "--server " + (*server)->grpc_address() + " ";
  UploadVgg((*server)->grpc_address());

  // A bad spec is refused up front and stores nothing.
  CommandResult r = Cli(s + "job submit vgg" + DataFlags(200, 1, "magic"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("INVALID_ARGUMENT"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("pruning.policy"), std::string::npos) << r.output;
  r = Cli(s + "job submit nosuch" + DataFlags(200, 1));
  EXPECT_NE(r.output.find("NOT_FOUND"), std::string::npos) << r.output;

  r = Cli(s + "job submit vgg --watch -q" + DataFlags(300, 1));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("registered vgg:2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("baseline"), std::string::npos) << r.output;

  r = Cli(s + "--json model show vgg:2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto model = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(model["lineage"]["parent_name"], "vgg");
  EXPECT_EQ(model["lineage"]["job_id"], "job-000001");
  EXPECT_EQ(model["lineage"]["policy"], "uniform");
  EXPECT_FALSE(model["report"].get<std::string>().empty());

  r = Cli(s + "--json job ls --state succeeded");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto list = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  ASSERT_EQ(list["jobs"].size(), 1u);
  EXPECT_EQ(list["jobs"][0]["result_model_version"], "2");

  auto metrics = testing::HttpGet((*server)->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(
      testing::MetricValue(*metrics, "pruneserve_jobs{state=\"succeeded\"}"),
      1.0);
  EXPECT_EQ(
      testing::MetricValue(
          *metrics, "pruneserve_jobs_finished_total{state=\"succeeded\"}"),
      1.0);
}

TEST_F(JobsE2eTest, SigkillMidJobResumesFromCheckpoint) {
  const std::string data = dir_.Join("data");
  auto server = testing::ServerProcess::Start(data, {kDataRoots});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = (*server)->grpc_address();
  UploadVgg(address);
  CommandResult r =
      Cli("--server " + address + " job submit vgg" + DataFlags(400, 3));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string id = "job-000001";
  // Kill once the second epoch runs: the first epoch's checkpoint exists.
  v1::Job seen = WatchUntil(address, id, [](const v1::Job& j) {
    return j.progress().phase() == "finetune" && j.progress().epoch() >= 1;
  });
  ASSERT_EQ(seen.state(), v1::JOB_STATE_RUNNING);
  (*server)->Stop(SIGKILL);

  server = testing::ServerProcess::Start(data, {kDataRoots});
  ASSERT_TRUE(server.ok()) << server.status();
  v1::Job final = WatchUntil((*server)->grpc_address(), id,
                             [](const v1::Job&) { return false; });
  EXPECT_EQ(final.state(), v1::JOB_STATE_SUCCEEDED) << final.error_message();
  EXPECT_EQ(final.attempts(), 2);
  EXPECT_GE(final.resumed_from_epoch(), 1);
  EXPECT_EQ(final.report().rounds(0).finetune_epochs(), 3);
  EXPECT_EQ(final.result_model_version(), 2);
}

TEST_F(JobsE2eTest, CancelStopsRunningJobPromptly) {
  auto server = testing::ServerProcess::Start(dir_.Join("data"), {kDataRoots});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = (*server)->grpc_address();
  UploadVgg(address);
  CommandResult r =
      Cli("--server " + address + " job submit vgg" + DataFlags(5000, 20));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  WatchUntil(address, "job-000001", [](const v1::Job& j) {
    return j.progress().phase() == "finetune" && j.progress().step() > 2;
  });
  r = Cli("--server " + address + " job cancel job-000001");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  v1::Job final =
      WatchUntil(address, "job-000001", [](const v1::Job&) { return false; });
  EXPECT_EQ(final.state(), v1::JOB_STATE_CANCELLED);
  // Stopped inside the first epoch, long before 20 epochs could run.
  EXPECT_EQ(final.progress().epoch(), 0);
  EXPECT_FALSE(std::filesystem::exists(dir_.Join("data/jobs/job-000001")));
  r = Cli("--server " + address + " job cancel job-000001");
  EXPECT_NE(r.output.find("FAILED_PRECONDITION"), std::string::npos)
      << r.output;
  // The worker is free again: a model listing still works and the version
  // count is unchanged.
  client::RepositoryClient repo(client::MakeChannel(address));
  EXPECT_EQ(repo.List("vgg")->size(), 1u);
}

}  // namespace
}  // namespace pruneserve
