// The KServe v2 service over real gRPC on loopback, in-process, serving a
// real TorchScript model through the LibTorch backend.
#include <grpcpp/grpcpp.h>
#include <torch/script.h>

#include <cstring>
#include <map>
#include <thread>

#include "core/metrics/process_metrics_collector.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "tests/core/xmodel/sample_xmodel.h"
#include "tests/server/server_fixture.h"
#include "tests/testing/http_get.h"
#include "tests/testing/tiny_models.h"

namespace pruneserve {
namespace {

using ::inference::GRPCInferenceService;

class InferenceServiceTest : public testing::ServerFixture {
 protected:
  // Lets a derived fixture change the server's options.
  virtual void Configure(ServerCoreOptions& options) {}

  void SetUp() override {
    ServerCoreOptions options;
    options.inference.default_pool.instances = 2;
    options.inference.intra_op_threads = 1;
    Configure(options);
    StartServer(options, WantsMetrics());
    stub_ = GRPCInferenceService::NewStub(channel_);
    testing::WriteTinyCnn(dir_.Join("tiny.pt"), 7);
    client::RepositoryClient repo(channel_);
    v1::UploadModelHeader header;
    header.set_name("tiny");
    header.set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
    for (int64_t d : {1, 1, 28, 28}) header.add_example_input_shape(d);
    ASSERT_TRUE(repo.Upload(header, dir_.Join("tiny.pt")).ok());
    module_ = torch::jit::load(dir_.Join("tiny.pt"));
    module_.eval();
  }

  grpc::Status Load(const std::string& name,
                    const std::map<std::string, int64_t>& parameters = {}) {
    grpc::ClientContext ctx;
    ::inference::RepositoryModelLoadRequest q;
    q.set_model_name(name);
    for (const auto& [key, value] : parameters) {
      (*q.mutable_parameters())[key].set_int64_param(value);
    }
    ::inference::RepositoryModelLoadResponse r;
    return stub_->RepositoryModelLoad(&ctx, q, &r);
  }

  grpc::Status Infer(const ::inference::ModelInferRequest& q,
                     ::inference::ModelInferResponse* r) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(30));
    return stub_->ModelInfer(&ctx, q, r);
  }

  ::inference::ModelInferRequest ImageRequest(const at::Tensor& x, bool raw) {
    ::inference::ModelInferRequest q;
    q.set_model_name("tiny");
    q.set_id("req-1");
    auto* in = q.add_inputs();
    in->set_name("input__0");
    in->set_datatype("FP32");
    for (int64_t d : x.sizes()) in->add_shape(d);
    const float* v = x.data_ptr<float>();
    if (raw) {
      q.add_raw_input_contents(reinterpret_cast<const char*>(v),
                               x.numel() * sizeof(float));
    } else {
      in->mutable_contents()->mutable_fp32_contents()->Add(v, v + x.numel());
    }
    return q;
  }

  at::Tensor Expected(const at::Tensor& x) {
    return module_.forward({x}).toTensor();
  }

  std::unique_ptr<GRPCInferenceService::Stub> stub_;
  torch::jit::Module module_;
};

TEST_F(InferenceServiceTest, LiveReadyAndServerMetadata) {
  grpc::ClientContext c1, c2, c3;
  ::inference::ServerLiveResponse live;
  ASSERT_TRUE(stub_->ServerLive(&c1, {}, &live).ok());
  EXPECT_TRUE(live.live());
  ::inference::ServerReadyResponse ready;
  ASSERT_TRUE(stub_->ServerReady(&c2, {}, &ready).ok());
  EXPECT_TRUE(ready.ready());
  ::inference::ServerMetadataResponse meta;
  ASSERT_TRUE(stub_->ServerMetadata(&c3, {}, &meta).ok());
  EXPECT_EQ(meta.name(), "pruneserve");
}

TEST_F(InferenceServiceTest, LoadMetadataInferTypedAndRaw) {
  {
    grpc::ClientContext ctx;
    ::inference::ModelReadyRequest q;
    q.set_name("tiny");
    ::inference::ModelReadyResponse r;
    ASSERT_TRUE(stub_->ModelReady(&ctx, q, &r).ok());
    EXPECT_FALSE(r.ready());
  }
  ASSERT_TRUE(Load("tiny").ok());
  {
    grpc::ClientContext ctx;
    ::inference::ModelMetadataRequest q;
    q.set_name("tiny");
    ::inference::ModelMetadataResponse r;
    ASSERT_TRUE(stub_->ModelMetadata(&ctx, q, &r).ok());
    EXPECT_EQ(r.platform(), "pytorch_libtorch");
    ASSERT_EQ(r.inputs_size(), 1);
    EXPECT_EQ(r.inputs(0).name(), "input__0");
    EXPECT_EQ(r.inputs(0).datatype(), "FP32");
    EXPECT_EQ(std::vector<int64_t>(r.inputs(0).shape().begin(),
                                   r.inputs(0).shape().end()),
              (std::vector<int64_t>{-1, 1, 28, 28}));
    ASSERT_EQ(r.outputs_size(), 1);
    EXPECT_EQ(r.versions(0), "1");
  }
  torch::manual_seed(1);
  at::Tensor x = torch::randn({2, 1, 28, 28});
  at::Tensor expected = Expected(x);

  ::inference::ModelInferResponse typed;
  ASSERT_TRUE(Infer(ImageRequest(x, false), &typed).ok());
  EXPECT_EQ(typed.id(), "req-1");
  EXPECT_EQ(typed.model_version(), "1");
  ASSERT_EQ(typed.outputs_size(), 1);
  EXPECT_EQ(typed.outputs(0).shape(1), 10);
  const auto& got = typed.outputs(0).contents().fp32_contents();
  ASSERT_EQ(got.size(), 20);
  for (int i = 0; i < 20; ++i) {
    EXPECT_NEAR(got[i], expected.view({-1})[i].item<float>(), 1e-5);
  }

  ::inference::ModelInferResponse raw;
  ASSERT_TRUE(Infer(ImageRequest(x, true), &raw).ok());
  ASSERT_EQ(raw.raw_output_contents_size(), 1);
  std::vector<float> v(20);
  std::memcpy(v.data(), raw.raw_output_contents(0).data(), 80);
  for (int i = 0; i < 20; ++i) {
    EXPECT_NEAR(v[i], expected.view({-1})[i].item<float>(), 1e-5);
  }
}

TEST_F(InferenceServiceTest, Uint8ImagesAreAccepted) {
  ASSERT_TRUE(Load("tiny").ok());
  ::inference::ModelInferRequest q;
  q.set_model_name("tiny");
  auto* in = q.add_inputs();
  in->set_name("input__0");
  in->set_datatype("UINT8");
  for (int64_t d : {1, 1, 28, 28}) in->add_shape(d);
  std::string pixels(28 * 28, '\0');
  for (size_t i = 0; i < pixels.size(); ++i)
    pixels[i] = static_cast<char>(i % 256);
  q.add_raw_input_contents(pixels);
  ::inference::ModelInferResponse r;
  ASSERT_TRUE(Infer(q, &r).ok());
  at::Tensor x = torch::empty({1, 1, 28, 28});
  for (int i = 0; i < 28 * 28; ++i)
    x.view({-1})[i] = static_cast<float>(i % 256);
  at::Tensor expected = Expected(x);
  std::vector<float> v(10);
  std::memcpy(v.data(), r.raw_output_contents(0).data(), 40);
  for (int i = 0; i < 10; ++i)
    EXPECT_NEAR(v[i], expected[0][i].item<float>(), 1e-3);
}

TEST_F(InferenceServiceTest, BadRequestsGetClearErrors) {
  ASSERT_TRUE(Load("tiny").ok());
  at::Tensor x = torch::zeros({1, 1, 28, 28});
  ::inference::ModelInferResponse r;

  auto unknown = ImageRequest(x, true);
  unknown.set_model_name("ghost");
  grpc::Status s = Infer(unknown, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);

  auto bad_version = ImageRequest(x, true);
  bad_version.set_model_version("7");
  EXPECT_EQ(Infer(bad_version, &r).error_code(), grpc::StatusCode::NOT_FOUND);

  auto wrong_shape = ImageRequest(torch::zeros({1, 3, 28, 28}), true);
  s = Infer(wrong_shape, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("expected [-1,1,28,28]"), std::string::npos)
      << s.error_message();

  auto short_bytes = ImageRequest(x, true);
  short_bytes.mutable_raw_input_contents(0)->resize(100);
  s = Infer(short_bytes, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("3136 bytes; got 100"), std::string::npos)
      << s.error_message();

  auto fp16 = ImageRequest(x, true);
  fp16.mutable_inputs(0)->set_datatype("FP16");
  s = Infer(fp16, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("FP16"), std::string::npos);

  auto too_big = ImageRequest(torch::zeros({9, 1, 28, 28}), true);  // max 8
  s = Infer(too_big, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("max batch size"), std::string::npos);

  EXPECT_EQ(Load("ghost").error_code(), grpc::StatusCode::NOT_FOUND);
  // The server is still serving.
  EXPECT_TRUE(Infer(ImageRequest(x, true), &r).ok());
}

// Refusals counted in pruneserve_admission_refusals_total, by limit.
std::map<std::string, double> Refusals(prometheus::Registry& registry) {
  std::map<std::string, double> out;
  for (const auto& family : registry.Collect()) {
    if (family.name != "pruneserve_admission_refusals_total") continue;
    for (const auto& m : family.metric) {
      out[m.label.at(0).value] = m.counter.value;
    }
  }
  return out;
}

// Everything a request declares is checked against the model and the
// limits before its values are decoded: an unknown model costs nothing, a
// zero dim no longer hides the dims after it, and typed INT64 values (1-byte
// varints on the wire, 8 bytes decoded) are bounded by the declared shape.
TEST_F(InferenceServiceTest, RequestsAreCheckedBeforeDecoding) {
  ASSERT_TRUE(Load("tiny").ok());
  ::inference::ModelInferResponse r;
  auto request = [](std::vector<int64_t> shape, const char* datatype) {
    ::inference::ModelInferRequest q;
    q.set_model_name("tiny");
    auto* in = q.add_inputs();
    in->set_name("input__0");
    in->set_datatype(datatype);
    for (int64_t d : shape) in->add_shape(d);
    return q;
  };
  constexpr int64_t kHuge = int64_t{1} << 40;

  // The model is looked up first: a request for an unknown one is NOT_FOUND
  // whatever its inputs say.
  auto ghost = request({0, kHuge, kHuge}, "FP16");
  ghost.set_model_name("ghost");
  grpc::Status s = Infer(ghost, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();

  auto many = request({1, 1, 28, 28}, "FP32");
  for (int i = 0; i < 16; ++i) *many.add_inputs() = many.inputs(0);
  s = Infer(many, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("17 inputs; the limit is 16 "
                                   "(--max_request_inputs)"),
            std::string::npos)
      << s.error_message();

  s = Infer(request({1, 1, 1, 1, 1, 1, 1, 1, 1}, "FP32"), &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("9 dims; the limit is 8 "
                                   "(--max_request_rank)"),
            std::string::npos)
      << s.error_message();

  s = Infer(request({0, kHuge, kHuge}, "FP32"), &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(
      s.error_message().find("33554432 elements (--max_request_elements)"),
      std::string::npos)
      << s.error_message();

  // 31.4 M INT64 elements fit the element limit but not the 128 MiB of
  // decoded bytes; refused from the shape alone.
  s = Infer(request({40000, 1, 28, 28}, "INT64"), &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("134217728 bytes (--max_request_bytes)"),
            std::string::npos)
      << s.error_message();

  // A million 1-byte varints for a 784-element shape: refused by count
  // before any value is copied.
  auto varints = request({1, 1, 28, 28}, "INT64");
  auto* values = varints.mutable_inputs(0)->mutable_contents();
  values->mutable_int64_contents()->Resize(1000000, 1);
  s = Infer(varints, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("needs 784 values; got 1000000"),
            std::string::npos)
      << s.error_message();

  auto refusals = Refusals(*server_->core().metrics_registry());
  EXPECT_EQ(refusals["max_request_inputs"], 1);
  EXPECT_EQ(refusals["max_request_rank"], 1);
  EXPECT_EQ(refusals["max_request_elements"], 1);
  EXPECT_EQ(refusals["max_request_bytes"], 1);

  // Still serving; a request at the limits' edge is fine.
  EXPECT_TRUE(Infer(ImageRequest(torch::zeros({1, 1, 28, 28}), true), &r).ok());
}

// A load may not ask for unbounded threads or batches.
TEST_F(InferenceServiceTest, LoadsAreBoundedInInstancesAndBatchSize) {
  grpc::Status s = Load("tiny", {{"instances", 17}});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("instances 17 exceeds the limit of 16 "
                                   "(--max_load_instances)"),
            std::string::npos)
      << s.error_message();
  // Not wrapped to 1 on the way to an int.
  s = Load("tiny", {{"instances", (int64_t{1} << 32) + 1}});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << s.error_message();
  s = Load("tiny", {{"max_batch_size", 257}});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("max_batch_size 257 exceeds the limit of "
                                   "256 (--max_load_batch_size)"),
            std::string::npos)
      << s.error_message();
  auto refusals = Refusals(*server_->core().metrics_registry());
  EXPECT_EQ(refusals["max_load_instances"], 2);
  EXPECT_EQ(refusals["max_load_batch_size"], 1);
  EXPECT_TRUE(Load("tiny", {{"instances", 16}, {"max_batch_size", 256}}).ok());
}

class LoadedVersionsLimitTest : public InferenceServiceTest {
 protected:
  void Configure(ServerCoreOptions& options) override {
    options.inference.max_loaded_versions = 1;
  }
};

TEST_F(LoadedVersionsLimitTest, OneVersionTooManyIsResourceExhausted) {
  client::RepositoryClient repo(channel_);
  v1::UploadModelHeader header;
  header.set_name("tiny");
  header.set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
  for (int64_t d : {1, 1, 28, 28}) header.add_example_input_shape(d);
  ASSERT_TRUE(repo.Upload(header, dir_.Join("tiny.pt")).ok());  // version 2

  ASSERT_TRUE(Load("tiny", {{"version", 1}}).ok());
  grpc::Status s = Load("tiny", {{"version", 2}});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("1 model versions are loaded; the limit "
                                   "is 1 (--max_loaded_versions)"),
            std::string::npos)
      << s.error_message();
  EXPECT_EQ(
      Refusals(*server_->core().metrics_registry())["max_loaded_versions"], 1);
  // Reloading the loaded version replaces it and does not count.
  EXPECT_TRUE(Load("tiny", {{"version", 1}}).ok());
  grpc::ClientContext ctx;
  ::inference::RepositoryModelUnloadRequest q;
  q.set_model_name("tiny");
  ::inference::RepositoryModelUnloadResponse r;
  ASSERT_TRUE(stub_->RepositoryModelUnload(&ctx, q, &r).ok());
  EXPECT_TRUE(Load("tiny", {{"version", 2}}).ok());
}

class MemoryBudgetTest : public InferenceServiceTest {
 protected:
  void Configure(ServerCoreOptions& options) override {
    options.inference.loaded_models_memory_bytes = kBudget;
  }
  static constexpr int64_t kBudget = 1000;
};

TEST_F(MemoryBudgetTest, LoadBeyondTheBudgetIsResourceExhausted) {
  // The tiny CNN's parameters take a few hundred bytes: two instances fit
  // the 1000-byte budget, three do not.
  auto stored = server_->core().repository().GetModel("tiny", 1);
  ASSERT_TRUE(stored.ok());
  const int64_t p = stored->parameter_bytes();
  ASSERT_GT(p, 0);
  ASSERT_LE(2 * p, kBudget);
  ASSERT_GT(3 * p, kBudget);

  grpc::Status s = Load("tiny", {{"instances", 3}});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("(--loaded_models_memory_mb)"),
            std::string::npos)
      << s.error_message();
  EXPECT_NE(s.error_message().find("loading tiny:1 needs an estimated"),
            std::string::npos)
      << s.error_message();
  EXPECT_EQ(
      Refusals(*server_->core().metrics_registry())["loaded_models_memory_mb"],
      1);
  ASSERT_TRUE(Load("tiny", {{"instances", 2}}).ok());
  // Replacing the loaded copy counts only the new one.
  EXPECT_TRUE(Load("tiny", {{"instances", 1}}).ok());
  // A second version does not fit beside two instances of the first.
  ASSERT_TRUE(Load("tiny", {{"instances", 2}}).ok());
  client::RepositoryClient repo(channel_);
  v1::UploadModelHeader header;
  header.set_name("tiny");
  header.set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
  for (int64_t d : {1, 1, 28, 28}) header.add_example_input_shape(d);
  ASSERT_TRUE(repo.Upload(header, dir_.Join("tiny.pt")).ok());  // version 2
  EXPECT_EQ(Load("tiny", {{"version", 2}}).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(
      Refusals(*server_->core().metrics_registry())["loaded_models_memory_mb"],
      2);
}

TEST_F(InferenceServiceTest, XmodelWithoutVartIsFailedPrecondition) {
  // A compiled xmodel is accepted by the repository, but serving it needs
  // the DPU backend, which this build (no VART) does not have.
  std::string bytes;
  ASSERT_TRUE(xmodel::testing::SampleGraph().SerializeToString(&bytes));
  client::RepositoryClient repo(channel_);
  v1::UploadModelHeader header;
  header.set_name("dpu_net");
  header.set_format(v1::MODEL_FORMAT_XMODEL);
  ASSERT_TRUE(repo.UploadBytes(header, bytes).ok());
  grpc::Status s = Load("dpu_net");
#ifdef PRUNESERVE_HAVE_VART
  GTEST_SKIP() << "built with VART: loading needs a DPU";
#endif
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("PRUNESERVE_WITH_VART"), std::string::npos)
      << s.error_message();
  // The TorchScript model still loads and serves.
  EXPECT_TRUE(Load("tiny").ok());
}

TEST_F(InferenceServiceTest, IndexAndUnload) {
  ASSERT_TRUE(Load("tiny").ok());
  {
    grpc::ClientContext ctx;
    ::inference::RepositoryIndexResponse r;
    ASSERT_TRUE(stub_->RepositoryIndex(&ctx, {}, &r).ok());
    ASSERT_EQ(r.models_size(), 1);
    EXPECT_EQ(r.models(0).name(), "tiny");
    EXPECT_EQ(r.models(0).state(), "READY");
  }
  grpc::ClientContext ctx;
  ::inference::RepositoryModelUnloadRequest q;
  q.set_model_name("tiny");
  ::inference::RepositoryModelUnloadResponse r;
  ASSERT_TRUE(stub_->RepositoryModelUnload(&ctx, q, &r).ok());
  ::inference::ModelInferResponse out;
  EXPECT_EQ(Infer(ImageRequest(torch::zeros({1, 1, 28, 28}), true), &out)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext ctx2;
  EXPECT_EQ(stub_->RepositoryModelUnload(&ctx2, q, &r).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(InferenceServiceTest, MetricsCountRequestsBatchesAndFailures) {
  ASSERT_TRUE(Load("tiny").ok());
  at::Tensor x = torch::zeros({2, 1, 28, 28});
  ::inference::ModelInferResponse r;
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(Infer(ImageRequest(x, true), &r).ok());
  auto bad = ImageRequest(x, true);
  bad.mutable_raw_input_contents(0)->resize(4);
  EXPECT_FALSE(Infer(bad, &r).ok());

  auto body = testing::HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  const std::string labels = "{model=\"tiny\",version=\"1\"}";
  EXPECT_EQ(testing::MetricValue(
                *body, "pruneserve_inference_request_success_total" + labels),
            3);
  EXPECT_EQ(testing::MetricValue(*body,
                                 "pruneserve_inference_request_failure_total{"
                                 "model=\"tiny\",reason=\"invalid_argument\","
                                 "version=\"1\"}"),
            1);
  EXPECT_EQ(
      testing::MetricValue(*body, "pruneserve_inference_count_total" + labels),
      6);
  EXPECT_EQ(testing::MetricValue(
                *body,
                "pruneserve_inference_request_duration_seconds_count" + labels),
            3);
  EXPECT_GT(
      testing::MetricValue(
          *body, "pruneserve_inference_throughput_images_per_second" + labels),
      0);
}

TEST_F(InferenceServiceTest, RepeatedLoadUnloadDoesNotGrowMemory) {
  auto cycle = [&](int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(Load("tiny").ok());
      grpc::ClientContext ctx;
      ::inference::RepositoryModelUnloadRequest q;
      q.set_model_name("tiny");
      ::inference::RepositoryModelUnloadResponse r;
      ASSERT_TRUE(stub_->RepositoryModelUnload(&ctx, q, &r).ok());
    }
  };
  cycle(20);  // warm allocator pools and caches
  long long before = CurrentRssBytes();
  cycle(100);
  long long after = CurrentRssBytes();
  // A leaked module per cycle would be > 100 x the model (~10 KiB) plus its
  // graph; allow allocator noise only.
  EXPECT_LT(after - before, 16ll << 20)
      << "before " << before << " after " << after;
}

}  // namespace
}  // namespace pruneserve
