// The ModelRepository service over real gRPC on loopback, in-process.
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "client/repository_client.h"
#include "core/util/sha256.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/server/server_fixture.h"
#include "tests/testing/http_get.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tiny_models.h"

namespace pruneserve {
namespace {

class ModelRepositoryServiceTest : public testing::ServerFixture {
 protected:
  void SetUp() override {
    testing::WriteTinyCnn(dir_.Join("tiny.pt"));
    std::ifstream in(dir_.Join("tiny.pt"), std::ios::binary);
    model_bytes_.assign(std::istreambuf_iterator<char>(in), {});
    ServerCoreOptions core_options;
    core_options.max_model_bytes = 256 << 10;
    StartServer(core_options, WantsMetrics());
    client::RepositoryClientOptions client_options;
    client_options.chunk_bytes = 4096;
    client_ =
        std::make_unique<client::RepositoryClient>(channel_, client_options);
  }

  static v1::UploadModelHeader Header(const std::string& name) {
    v1::UploadModelHeader h;
    h.set_name(name);
    h.set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
    return h;
  }

  // Sends raw messages and returns the status of the call.
  grpc::Status SendRaw(const std::vector<v1::UploadModelRequest>& messages) {
    grpc::ClientContext context;
    v1::UploadModelResponse response;
    auto writer = client_->stub().UploadModel(&context, &response);
    for (const auto& m : messages) {
      if (!writer->Write(m)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }

  size_t TempFiles() {
    size_t n = 0;
    for (auto& e : std::filesystem::directory_iterator(dir_.Join("data/tmp"))) {
      (void)e;
      ++n;
    }
    return n;
  }

  std::string model_bytes_;
  std::unique_ptr<client::RepositoryClient> client_;
};

TEST_F(ModelRepositoryServiceTest, UploadListGetDownloadDelete) {
  auto header = Header("tiny");
  header.set_expected_sha256(Sha256Hex(model_bytes_));
  for (int64_t d : {1, 1, 28, 28}) header.add_example_input_shape(d);
  auto stored = client_->UploadBytes(header, model_bytes_);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->version(), 1);
  EXPECT_EQ(stored->size_bytes(), static_cast<int64_t>(model_bytes_.size()));
  EXPECT_EQ(stored->parameter_count(), 94);
  ASSERT_EQ(stored->output_shape_size(), 2);
  EXPECT_EQ(stored->output_shape(1), 10);

  auto listed = client_->List("");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].sha256(), Sha256Hex(model_bytes_));

  auto got = client_->Get("tiny", 0);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->version(), 1);

  std::string out = dir_.Join("downloaded.pt");
  auto downloaded = client_->Download("tiny", 1, out);
  ASSERT_TRUE(downloaded.ok()) << downloaded.status();
  std::ifstream in(out, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(bytes, model_bytes_);

  EXPECT_EQ(*client_->Delete("tiny", 0), 1);
  EXPECT_TRUE(client_->List("")->empty());
}

TEST_F(ModelRepositoryServiceTest, DownloadOfCorruptBlobIsDataLoss) {
  auto stored = client_->UploadBytes(Header("tiny"), model_bytes_);
  ASSERT_TRUE(stored.ok()) << stored.status();
  std::string rotten = model_bytes_;
  rotten[rotten.size() / 2] ^= 0x01;
  std::ofstream(server_->core().repository().BlobPath(*stored),
                std::ios::binary | std::ios::trunc)
      << rotten;
  auto downloaded = client_->Download("tiny", 1, dir_.Join("out.pt"));
  EXPECT_EQ(downloaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(downloaded.status().message().find("tiny:1"), std::string::npos)
      << downloaded.status();
}

TEST_F(ModelRepositoryServiceTest, EmptyStreamIsInvalidArgument) {
  grpc::Status s = SendRaw({});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("no header"), std::string::npos);
}

TEST_F(ModelRepositoryServiceTest, HeaderWithoutBytesIsInvalidArgument) {
  v1::UploadModelRequest header;
  *header.mutable_header() = Header("tiny");
  grpc::Status s = SendRaw({header});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("no bytes"), std::string::npos);
  EXPECT_TRUE(client_->List("")->empty());
}

TEST_F(ModelRepositoryServiceTest, MissingHeaderIsInvalidArgument) {
  v1::UploadModelRequest chunk;
  chunk.set_chunk(model_bytes_);
  grpc::Status s = SendRaw({chunk});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("missing header"), std::string::npos);
}

TEST_F(ModelRepositoryServiceTest, WrongSha256IsDataLoss) {
  auto header = Header("tiny");
  header.set_expected_sha256(Sha256Hex("other bytes"));
  auto stored = client_->UploadBytes(header, model_bytes_);
  EXPECT_EQ(stored.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(client_->List("")->empty());
}

TEST_F(ModelRepositoryServiceTest, OversizedUploadIsResourceExhausted) {
  std::string big(512 << 10, 'x');  // limit is 256 KiB
  auto stored = client_->UploadBytes(Header("big"), big);
  EXPECT_EQ(stored.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(stored.status().message().find("size limit"), std::string::npos);
  EXPECT_EQ(TempFiles(), 0u);
  EXPECT_TRUE(client_->List("")->empty());
}

TEST_F(ModelRepositoryServiceTest, InvalidTorchScriptIsInvalidArgument) {
  auto stored = client_->UploadBytes(Header("junk"), "definitely not a model");
  EXPECT_EQ(stored.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(stored.status().message().find("TorchScript"), std::string::npos);
  EXPECT_TRUE(client_->List("")->empty());
  EXPECT_EQ(TempFiles(), 0u);
}

TEST_F(ModelRepositoryServiceTest, BadNamesAreInvalidArgument) {
  for (const std::string& name :
       {std::string("a/b"), std::string("../etc"), std::string("bell\a"),
        std::string(129, 'x')}) {
    auto stored = client_->UploadBytes(Header(name), model_bytes_);
    EXPECT_EQ(stored.status().code(), absl::StatusCode::kInvalidArgument)
        << name;
  }
  EXPECT_TRUE(client_->List("")->empty());
}

TEST_F(ModelRepositoryServiceTest, MissingModelsAreNotFound) {
  EXPECT_EQ(client_->Delete("ghost", 0).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(client_->Get("ghost", 2).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(client_->Download("ghost", 0, dir_.Join("x")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ModelRepositoryServiceTest,
       ConcurrentUploadsOfOneNameGetDistinctVersions) {
  constexpr int kClients = 4;
  std::vector<absl::StatusOr<v1::ModelVersion>> results(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      results[i] = client_->UploadBytes(Header("same"), model_bytes_);
    });
  }
  for (auto& t : threads) t.join();
  std::set<int64_t> versions;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    versions.insert(r->version());
  }
  EXPECT_EQ(versions, (std::set<int64_t>{1, 2, 3, 4}));
}

TEST_F(ModelRepositoryServiceTest, HealthIsServing) {
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(stub->Check(&context, request, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(ModelRepositoryServiceTest, MetricsEndpointCountsUploads) {
  ASSERT_TRUE(client_->UploadBytes(Header("tiny"), model_bytes_).ok());
  (void)client_->UploadBytes(Header("junk"), "junk");
  auto body = testing::HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(testing::MetricValue(
                *body, "pruneserve_repository_uploads_total{result=\"ok\"}"),
            1);
  EXPECT_EQ(
      testing::MetricValue(
          *body,
          "pruneserve_repository_uploads_total{result=\"invalid_argument\"}"),
      1);
  EXPECT_EQ(testing::MetricValue(*body, "pruneserve_repository_models"), 1);
  EXPECT_EQ(testing::MetricValue(*body, "pruneserve_repository_stored_bytes"),
            static_cast<double>(model_bytes_.size()));
  EXPECT_GT(testing::MetricValue(*body, "process_resident_memory_bytes"), 0);
}

}  // namespace
}  // namespace pruneserve
