// An in-process Server on loopback ports with a real client channel, for the
// service tests in this folder.
#ifndef PRUNESERVE_TESTS_SERVER_SERVER_FIXTURE_H_
#define PRUNESERVE_TESTS_SERVER_SERVER_FIXTURE_H_

#include <initializer_list>
#include <memory>
#include <string>

#include "client/repository_client.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tiny_models.h"

namespace pruneserve::testing {

class ServerFixture : public ::testing::Test {
 protected:
  // Starts the server with `core_options` (data_dir is filled in). The
  // Prometheus exposer is started only with `metrics`: its embedded web
  // server takes ~2 s to stop, which most tests need not pay.
  void StartServer(ServerCoreOptions core_options, bool metrics = false) {
    core_options.data_dir = dir_.Join("data");
    auto core = ServerCore::Create(core_options);
    ASSERT_TRUE(core.ok()) << core.status();
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.metrics_address =
        metrics ? "127.0.0.1:" + std::to_string(PickFreePort()) : "";
    auto server = Server::Start(options, *std::move(core));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = client::MakeChannel("127.0.0.1:" +
                                   std::to_string(server_->grpc_port()));
  }

  // Writes the tiny test CNN (tests/testing/tiny_models.h) and uploads it
  // as "tiny" with `example_input_shape`. Fails the test on error.
  void UploadTinyCnn(std::initializer_list<int64_t> example_input_shape) {
    const std::string path = dir_.Join("tiny.pt");
    WriteTinyCnn(path);
    client::RepositoryClient repo(channel_);
    v1::UploadModelHeader header;
    header.set_name("tiny");
    header.set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
    for (int64_t d : example_input_shape) header.add_example_input_shape(d);
    auto stored = repo.Upload(header, path);
    ASSERT_TRUE(stored.ok()) << stored.status();
  }

  // True for tests whose name mentions Metrics.
  static bool WantsMetrics() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string(info->name()).find("Metrics") != std::string::npos;
  }

  TempDir dir_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace pruneserve::testing

#endif  // PRUNESERVE_TESTS_SERVER_SERVER_FIXTURE_H_
