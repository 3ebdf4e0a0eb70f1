// Hostile TorchScript uploads against the real server binary: each one is
// refused (or contained in its validator process) while a good model keeps
// answering inference requests from another thread the whole time, and the
// server is still healthy afterwards.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/inference_client.h"
#include "client/repository_client.h"
#include "gtest/gtest.h"
#include "tests/testing/hostile_models.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tiny_models.h"

namespace pruneserve {
namespace {

constexpr int kValidatorTimeoutSeconds = 4;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Sends inference requests to "good" from a thread of its own until
// destroyed, counting answers and failures. Owns its thread.
class BackgroundInference {
 public:
  explicit BackgroundInference(const std::string& address)
      : client_(client::MakeChannel(address), absl::Seconds(30)),
        thread_([this] { Run(); }) {}
  ~BackgroundInference() {
    stop_ = true;
    thread_.join();
  }
  int ok() const { return ok_; }
  int failed() const { return failed_; }
  std::string last_error() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_error_;
  }

 private:
  void Run() {
    const std::vector<float> image(28 * 28, 0.5f);
    while (!stop_) {
      auto out = client_.Infer("good", 0, {1, 1, 28, 28}, image);
      if (out.ok() && out->shape == std::vector<int64_t>{1, 10}) {
        ++ok_;
      } else {
        ++failed_;
        std::lock_guard<std::mutex> lock(mu_);
        last_error_ = out.ok() ? "wrong shape" : out.status().ToString();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  client::InferenceClient client_;
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0};
  std::atomic<int> failed_{0};
  mutable std::mutex mu_;
  std::string last_error_;
  std::thread thread_;
};

class HostileModelE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // --max_model_mb=64 caps uploads both as sent and uncompressed.
    auto server = testing::ServerProcess::Start(
        dir_.Join("data"),
        {"--max_model_mb=64", absl::StrCat("--validator_timeout_seconds=",
                                           kValidatorTimeoutSeconds)});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = client::MakeChannel(server_->grpc_address());
    repository_ = std::make_unique<client::RepositoryClient>(channel_);

    testing::WriteTinyCnn(dir_.Join("good.pt"));
    auto good = Upload("good", dir_.Join("good.pt"));
    ASSERT_TRUE(good.ok()) << good.status();
    client::InferenceClient inference(channel_);
    ASSERT_TRUE(inference.Load("good", {}).ok());
    background_ =
        std::make_unique<BackgroundInference>(server_->grpc_address());
  }

  void TearDown() override {
    if (!background_) return;
    // The good model answered throughout, before and after the hostile one.
    const int before = background_->ok();
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (background_->ok() < before + 3 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_GE(background_->ok(), before + 3);
    EXPECT_EQ(background_->failed(), 0) << background_->last_error();
    background_.reset();
    // The server process is the one that started.
    EXPECT_EQ(::kill(server_->pid(), 0), 0);
    auto list = repository_->List("");
    ASSERT_TRUE(list.ok()) << list.status();
    ASSERT_EQ(list->size(), 1u);
    EXPECT_EQ((*list)[0].name(), "good");
  }

  absl::StatusOr<v1::ModelVersion> Upload(const std::string& name,
                                          const std::string& path) {
    v1::UploadModelHeader header;
    header.set_name(name);
    header.set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
    for (int64_t d : {1, 1, 28, 28}) header.add_example_input_shape(d);
    return repository_->UploadBytes(header, ReadAll(path));
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<client::RepositoryClient> repository_;
  std::unique_ptr<BackgroundInference> background_;
};

TEST_F(HostileModelE2eTest, FromFileInForwardIsRefusedNamingTheOp) {
  const std::string path = dir_.Join("from_file.pt");
  testing::WriteFromFileModel(path, "/etc/passwd");
  auto r = Upload("from_file", path);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
      << r.status();
  EXPECT_NE(r.status().message().find("forbidden op aten::from_file"),
            std::string::npos)
      << r.status();
  // Nothing of the file reaches the caller.
  EXPECT_EQ(r.status().message().find("root:"), std::string::npos);
}

TEST_F(HostileModelE2eTest, EndlessForwardIsKilledAtTheTimeout) {
  const std::string path = dir_.Join("endless.pt");
  testing::WriteEndlessForwardModel(path);
  const absl::Time start = absl::Now();
  auto r = Upload("endless", path);
  const absl::Duration took = absl::Now() - start;
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
      << r.status();
  EXPECT_NE(r.status().message().find(absl::StrCat(
                "did not finish within ", kValidatorTimeoutSeconds, "s")),
            std::string::npos)
      << r.status();
  EXPECT_NE(r.status().message().find("killed"), std::string::npos);
  EXPECT_GE(took, absl::Seconds(kValidatorTimeoutSeconds));
}

TEST_F(HostileModelE2eTest,
       GigabyteOfDeflatedZerosIsRefusedByTheUncompressedCap) {
  const std::string path = dir_.Join("bomb.pt");
  testing::WriteZipBombModel(path, int64_t{1} << 30);
  // Well under --max_model_mb as sent.
  ASSERT_LT(std::filesystem::file_size(path), 2u << 20);
  auto r = Upload("bomb", path);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted)
      << r.status();
  EXPECT_NE(r.status().message().find("uncompresses to more than the model "
                                      "size limit of 67108864 bytes"),
            std::string::npos)
      << r.status();
}

TEST_F(HostileModelE2eTest, ArchiveThatCrashesTheLoaderIsInvalidArgument) {
  const std::string path = dir_.Join("crash.pt");
  testing::WriteLoadCrashingArchive(path);
  auto r = Upload("crash", path);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
      << r.status();
  EXPECT_NE(r.status().message().find("the validator process died of signal"),
            std::string::npos)
      << r.status();
}

}  // namespace
}  // namespace pruneserve
