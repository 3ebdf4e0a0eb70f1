// Inference end to end: the real server and prunectl binaries, a zoo model
// uploaded, loaded, classified from Fashion-MNIST's IDX file and
// benchmarked.
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/http_get.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve {
namespace {

using testing::CommandResult;

CommandResult Cli(const std::string& args) {
  return testing::RunPrunectl(args);
}

constexpr char kFashion[] = "/usr/share/datasets/fashion-mnist";

TEST(InferenceE2eTest, UploadLoadInferBenchUnload) {
  if (!std::filesystem::exists(std::string(kFashion) +
                               "/t10k-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  testing::TempDir dir;
  auto server =
      testing::ServerProcess::Start(dir.Join("data"), {"--instances=2"});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string s = "--server " + (*server)->grpc_address() + " ";
  const std::string model = dir.Join("resnet20.pt");

  CommandResult r =
      Cli(absl::StrCat("zoo build resnet20 --in-channels 1 "
                       "--input-size 28 --out ",
                       model));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = Cli(s + "model upload " + model +
          " --name r20 --input-shape 1,1,28,28 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_GT(
      std::stoll(nlohmann::json::parse(r.output)["flops"].get<std::string>()),
      0);

  r = Cli(s + "serve load r20 --instances 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = Cli(s + "serve ls");
  EXPECT_NE(r.output.find("READY"), std::string::npos) << r.output;

  r = Cli(absl::StrCat(s, "infer r20 --idx-images ", kFashion,
                       "/t10k-images-idx3-ubyte.gz --idx-labels ", kFashion,
                       "/t10k-labels-idx1-ubyte.gz -n 5 -k 2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("top-1 accuracy"), std::string::npos);
  EXPECT_NE(r.output.find("(?/5)"), 0u);

  r = Cli(s + "bench r20 -c 2 -n 20 -b 4 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto bench = nlohmann::json::parse(r.output);
  EXPECT_EQ(bench["ok"], 20);
  EXPECT_EQ(bench["failed"], 0);
  EXPECT_GT(bench["images_per_second"].get<double>(), 0);
  EXPECT_GE(bench["p99_ms"].get<double>(), bench["p50_ms"].get<double>());

  auto metrics = testing::HttpGet((*server)->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_GE(
      testing::MetricValue(
          *metrics,
          "pruneserve_inference_count_total{model=\"r20\",version=\"1\"}"),
      85);  // 5 classified + 20 x 4 benchmarked

  r = Cli(s + "serve unload r20");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = Cli(s + "bench r20 -n 1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("NOT_FOUND"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace pruneserve
