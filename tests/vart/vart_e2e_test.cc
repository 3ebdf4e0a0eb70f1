// The FPGA path end to end against the real Vitis AI runtime: the real
// pruneserve binary (built with -DPRUNESERVE_WITH_VART=ON) started with
// --vart_runner_lib DPU=libpruneserve-reference-runner.so, xmodels written
// with the XIR API, uploaded and loaded with prunectl, and KServe v2
// requests whose every output value is compared with the INT8 reference.
// Covers odd batch sizes against a runner batch of 3, two inputs and three
// outputs, four instances under concurrent clients, unloading while
// requests are in flight, failing, hanging and unconstructible runners,
// the runner library missing, and `prunectl bench` with 1, 2 and 4
// instances.
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/repository_client.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/vart/vart_fixtures.h"

namespace pruneserve {
namespace {

using testing::CommandResult;
using testing::kImageC;
using testing::kImageH;
using testing::kImageW;
using testing::kVectorLen;

constexpr int64_t kImageElements = kImageC * kImageH * kImageW;

std::string RunnerFlag() {
  return std::string("--vart_runner_lib=DPU=") + PRUNESERVE_REFERENCE_RUNNER;
}

// Outputs by name, FP32 values.
struct Response {
  grpc::Status status;
  std::map<std::string, std::vector<float>> outputs;
  std::map<std::string, std::vector<int64_t>> shapes;
};

void AddInput(::inference::ModelInferRequest& request, const std::string& name,
              const std::vector<int64_t>& shape,
              const std::vector<float>& values) {
  auto* input = request.add_inputs();
  input->set_name(name);
  input->set_datatype("FP32");
  for (int64_t d : shape) input->add_shape(d);
  request.add_raw_input_contents(reinterpret_cast<const char*>(values.data()),
                                 values.size() * sizeof(float));
}

Response Infer(
    ::inference::GRPCInferenceService::Stub& stub, const std::string& model,
    const std::vector<std::pair<std::string, std::vector<float>>>& inputs,
    int64_t rows) {
  ::inference::ModelInferRequest request;
  request.set_model_name(model);
  for (const auto& [name, values] : inputs) {
    if (name == "image") {
      AddInput(request, name, {rows, kImageC, kImageH, kImageW}, values);
    } else {
      AddInput(request, name, {rows, kVectorLen}, values);
    }
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(60));
  ::inference::ModelInferResponse response;
  Response r;
  r.status = stub.ModelInfer(&context, request, &response);
  for (int i = 0; i < response.outputs_size(); ++i) {
    const std::string& raw = response.raw_output_contents(i);
    std::vector<float> v(raw.size() / sizeof(float));
    std::memcpy(v.data(), raw.data(), v.size() * sizeof(float));
    r.outputs[response.outputs(i).name()] = std::move(v);
    r.shapes[response.outputs(i).name()].assign(
        response.outputs(i).shape().begin(), response.outputs(i).shape().end());
  }
  return r;
}

// Sends `rows` rows made from `seed` to the two-input model and returns
// an empty string when every value matches, else what differed.
std::string CheckMulti(::inference::GRPCInferenceService::Stub& stub,
                       const std::string& model, int64_t rows, int seed) {
  const std::vector<float> image =
      testing::FixtureValues(rows * kImageElements, seed);
  const std::vector<float> vector =
      testing::FixtureValues(rows * kVectorLen, seed + 7919);
  Response r = Infer(stub, model, {{"image", image}, {"vector", vector}}, rows);
  if (!r.status.ok()) {
    return absl::StrCat("status ", r.status.error_code(), ": ",
                        r.status.error_message());
  }
  const testing::MultiExpected want =
      testing::ExpectedMulti(image, vector, rows);
  if (r.outputs["biased"] != want.biased) return "biased differs";
  if (r.outputs["channel_max"] != want.channel_max) {
    return "channel_max differs";
  }
  if (r.outputs["copy"] != want.copy) return "copy differs";
  if (r.shapes["copy"] !=
      std::vector<int64_t>{rows, kImageC, kImageH, kImageW}) {
    return "copy has the wrong shape";
  }
  return "";
}

int CountLines(const std::string& path, const std::string& needle) {
  std::ifstream in(path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    if (line.find(needle) != std::string::npos) ++n;
  }
  return n;
}

class VartE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server =
        testing::ServerProcess::Start(dir_.Join("data"), {RunnerFlag()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = client::MakeChannel(server_->grpc_address());
    stub_ = ::inference::GRPCInferenceService::NewStub(channel_);
  }

  // Writes a fixture, uploads it as `name` and loads it with `instances`.
  // Returns prunectl's load result.
  CommandResult UploadAndLoad(const std::string& name,
                              const testing::VartFixtureOptions& fixture,
                              int instances) {
    const std::string path = dir_.Join(name + ".xmodel");
    EXPECT_TRUE(testing::WriteMultiFixture(path, fixture).ok());
    CommandResult r =
        Cli(absl::StrCat("model upload ", path, " --name ", name));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return Cli(absl::StrCat("serve load ", name, " --instances ", instances));
  }

  CommandResult Cli(const std::string& args) {
    return testing::RunPrunectl(
        absl::StrCat("--server ", server_->grpc_address(), " ", args));
  }

  int RunnersCreated() {
    return CountLines(server_->stderr_path(),
                      "pruneserve-reference-runner: created");
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<::inference::GRPCInferenceService::Stub> stub_;
};

TEST_F(VartE2eTest, FourInstancesServeExactValuesForOddBatches) {
  CommandResult r = UploadAndLoad("multi", {}, 4);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // One runner to learn the tensors, then one per instance thread.
  EXPECT_EQ(RunnersCreated(), 5);

  r = Cli("serve ls");
  EXPECT_NE(r.output.find("READY"), std::string::npos) << r.output;
  for (int64_t rows : {1, 2, 3, 4, 5, 7, 8}) {
    EXPECT_EQ(CheckMulti(*stub_, "multi", rows, static_cast<int>(rows)), "")
        << rows << " rows";
  }
  // The metadata is the client's view: NCHW, free batch.
  ::inference::ModelMetadataRequest request;
  request.set_name("multi");
  ::inference::ModelMetadataResponse metadata;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->ModelMetadata(&context, request, &metadata).ok());
  EXPECT_EQ(metadata.platform(), "vitis_ai_xmodel");
  ASSERT_EQ(metadata.inputs_size(), 2);
  EXPECT_EQ(metadata.inputs(0).name(), "image");
  EXPECT_EQ(std::vector<int64_t>(metadata.inputs(0).shape().begin(),
                                 metadata.inputs(0).shape().end()),
            (std::vector<int64_t>{-1, kImageC, kImageH, kImageW}));
  EXPECT_EQ(metadata.outputs_size(), 3);
  EXPECT_EQ(RunnersCreated(), 5);

  // Requests larger than the runner batch several times over (11 = 3 + 3 +
  // 3 + 2 padded), after a reload with a larger dynamic batch.
  r = Cli("serve load multi --instances 4 --max-batch-size 16");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(RunnersCreated(), 10);
  for (int64_t rows : {11, 16}) {
    EXPECT_EQ(CheckMulti(*stub_, "multi", rows, static_cast<int>(rows)), "")
        << rows << " rows";
  }
}

TEST_F(VartE2eTest, ConcurrentClientsEachGetTheirOwnValues) {
  ASSERT_EQ(UploadAndLoad("multi", {}, 4).exit_code, 0);
  constexpr int kClients = 8, kRequests = 25;
  absl::Mutex mu;
  std::vector<std::string> failures;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto stub = ::inference::GRPCInferenceService::NewStub(channel_);
      for (int i = 0; i < kRequests; ++i) {
        const int64_t rows = 1 + (c + i) % 5;
        std::string diff = CheckMulti(*stub, "multi", rows, c * 1000 + i);
        if (!diff.empty()) {
          absl::MutexLock lock(&mu);
          failures.push_back(
              absl::StrCat("client ", c, " request ", i, ": ", diff));
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_TRUE(failures.empty())
      << failures.size() << " failed, first: " << failures.front();
  // No runner was shared between threads (the reference runner reports
  // overlapping jobs) and none was replaced.
  EXPECT_EQ(CountLines(server_->stderr_path(), "concurrent jobs"), 0);
  EXPECT_EQ(RunnersCreated(), 5);
}

TEST_F(VartE2eTest, UnloadWhileRequestsAreInFlight) {
  ASSERT_EQ(UploadAndLoad("multi", {}, 4).exit_code, 0);
  absl::Mutex mu;
  int answered = 0;
  bool unloaded = false;
  std::map<int, int> codes;  // grpc code -> count
  std::vector<std::string> wrong;
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      auto stub = ::inference::GRPCInferenceService::NewStub(channel_);
      for (int i = 0;; ++i) {
        const std::string diff = CheckMulti(*stub, "multi", 3, c * 100 + i);
        absl::MutexLock lock(&mu);
        ++answered;
        if (diff.empty()) {
          ++codes[0];
        } else if (diff.rfind("status ", 0) == 0) {
          ++codes[std::stoi(diff.substr(7))];
        } else {
          wrong.push_back(diff);
        }
        // Keep sending until the unload is done and was seen once more.
        if (unloaded && !diff.empty()) return;
      }
    });
  }
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](int* n) { return *n >= 20; }, &answered));
  }
  CommandResult r = Cli("serve unload multi");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  {
    absl::MutexLock lock(&mu);
    unloaded = true;
  }
  for (auto& t : clients) t.join();
  EXPECT_TRUE(wrong.empty()) << wrong.front();
  EXPECT_GE(codes[0], 20);
  for (const auto& [code, count] : codes) {
    // OK before, NOT_FOUND after, UNAVAILABLE for requests the stopping
    // pool turned away.
    EXPECT_TRUE(code == grpc::OK || code == grpc::NOT_FOUND ||
                code == grpc::UNAVAILABLE)
        << count << " request(s) ended with code " << code;
  }
  EXPECT_GT(codes[grpc::NOT_FOUND], 0);
  // The server is still up and serves the model again after a reload.
  r = Cli("serve load multi --instances 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(CheckMulti(*stub_, "multi", 5, 99), "");
}

TEST_F(VartE2eTest, FailingRunnerIsInternalAndOtherModelsKeepServing) {
  ASSERT_EQ(UploadAndLoad("multi", {}, 2).exit_code, 0);
  testing::VartFixtureOptions failing;
  failing.behaviour = "fail";
  ASSERT_EQ(UploadAndLoad("failing", failing, 2).exit_code, 0);
  const std::vector<float> image(2 * kImageElements, 0.5f);
  const std::vector<float> vector(2 * kVectorLen, 0.5f);
  Response r =
      Infer(*stub_, "failing", {{"image", image}, {"vector", vector}}, 2);
  EXPECT_EQ(r.status.error_code(), grpc::INTERNAL);
  EXPECT_NE(r.status.error_message().find("wait status 1"), std::string::npos)
      << r.status.error_message();
  EXPECT_EQ(CheckMulti(*stub_, "multi", 4, 4), "");
}

TEST_F(VartE2eTest, HangingRunnerEndsAtTheJobTimeout) {
  testing::VartFixtureOptions hanging;
  hanging.behaviour = "hang";
  ASSERT_EQ(UploadAndLoad("hanging", hanging, 1).exit_code, 0);
  const std::vector<float> image(kImageElements, 0.5f);
  const std::vector<float> vector(kVectorLen, 0.5f);
  Response r =
      Infer(*stub_, "hanging", {{"image", image}, {"vector", vector}}, 1);
  EXPECT_EQ(r.status.error_code(), grpc::INTERNAL);
  EXPECT_NE(r.status.error_message().find("exceeded 10000 ms"),
            std::string::npos)
      << r.status.error_message();
  // The session replaced its runner (a late write of the abandoned job must
  // not reach the next request's buffers).
  EXPECT_EQ(RunnersCreated(), 2);
  Response again =
      Infer(*stub_, "hanging", {{"image", image}, {"vector", vector}}, 1);
  EXPECT_EQ(again.status.error_code(), grpc::INTERNAL);
  EXPECT_EQ(RunnersCreated(), 3);
  CommandResult unload = Cli("serve unload hanging");
  EXPECT_EQ(unload.exit_code, 0) << unload.output;
}

TEST_F(VartE2eTest, RunnerThatCannotBeCreatedFailsTheLoadOnly) {
  testing::VartFixtureOptions broken;
  broken.behaviour = "fail_create";
  CommandResult r = UploadAndLoad("broken", broken, 4);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("INTERNAL"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("told to fail at creation"), std::string::npos)
      << r.output;
  ASSERT_EQ(UploadAndLoad("multi", {}, 1).exit_code, 0);
  EXPECT_EQ(CheckMulti(*stub_, "multi", 3, 3), "");
}

TEST_F(VartE2eTest, PrunectlBenchWithOneTwoAndFourInstances) {
  testing::VartFixtureOptions single;
  single.single_input = true;
  ASSERT_EQ(UploadAndLoad("single", single, 1).exit_code, 0);
  for (int instances : {1, 2, 4}) {
    CommandResult r =
        Cli(absl::StrCat("serve load single --instances ", instances));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = Cli("bench single -c 4 -n 40 -b 3 --json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto bench = nlohmann::json::parse(r.output);
    EXPECT_EQ(bench["ok"], 40) << instances << " instances";
    EXPECT_EQ(bench["failed"], 0);
  }
}

TEST(VartE2eServerTest, WithoutTheRunnerLibraryTheLoadFailsAndTheServerLives) {
  // No --vart_runner_lib: the xmodel's libvart-dpu-runner.so, which this
  // runtime (built without XRT) does not have. VART would abort the
  // process; the backend refuses the load instead.
  testing::TempDir dir;
  auto server = testing::ServerProcess::Start(dir.Join("data"));
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string s = "--server " + (*server)->grpc_address() + " ";
  const std::string path = dir.Join("m.xmodel");
  ASSERT_TRUE(testing::WriteMultiFixture(path, {}).ok());
  CommandResult r =
      testing::RunPrunectl(s + "model upload " + path + " --name m");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = testing::RunPrunectl(s + "serve load m");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("FAILED_PRECONDITION"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("libvart-dpu-runner.so"), std::string::npos)
      << r.output;
  r = testing::RunPrunectl(s + "model ls");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(VartE2eServerTest, MalformedRunnerLibFlagStopsTheStart) {
  testing::TempDir dir;
  auto server = testing::ServerProcess::Start(dir.Join("data"),
                                              {"--vart_runner_lib=DPU"});
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("not DEVICE=LIBRARY"),
            std::string::npos)
      << server.status();
}

}  // namespace
}  // namespace pruneserve
