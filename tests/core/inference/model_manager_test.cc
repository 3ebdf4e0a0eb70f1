#include "core/inference/model_manager.h"

#include <atomic>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "core/util/intra_op_threads.h"
#include "tests/testing/fake_backend.h"
#include "tests/testing/fake_model_inspector.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::inference {
namespace {

// Value of `family` for model "m" at `version`; -1 when not exported.
double SeriesValue(prometheus::Registry& registry, const std::string& family,
                   const std::string& version) {
  for (const auto& f : registry.Collect()) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& l : m.label) labels[l.name] = l.value;
      if (labels["model"] == "m" && labels["version"] == version) {
        return m.counter.value + m.gauge.value;
      }
    }
  }
  return -1;
}

struct FakeState {
  prometheus::Registry* registry = nullptr;
  bool hold = false;
  absl::Notification entered;
  absl::Notification release;
  // Whether the batch-count series of m:1 was exported when the held batch
  // finished; -2 until then.
  double exec_count_at_batch_end = -2;
};

// A pass-through backend; when `state->hold` is set, every run announces
// itself on `entered` and waits for `release`, then looks at the registry as
// the batch ends (before the pool's observer records it).
std::unique_ptr<InferenceBackend> HoldingBackend(FakeState* state) {
  return std::make_unique<pruneserve::testing::ScalingBackend>(
      1.0f, [state](const HostTensor&) {
        if (!state->hold) return;
        state->entered.Notify();
        state->release.WaitForNotification();
        state->exec_count_at_batch_end = SeriesValue(
            *state->registry, "pruneserve_inference_exec_count_total", "1");
      });
}

HostTensor Input() {
  HostTensor t;
  t.name = "input__0";
  t.shape = {1, 2};
  t.bytes.assign(8, '\0');
  return t;
}

class ModelManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ModelRepository::InspectorMap inspectors;
    inspectors[v1::MODEL_FORMAT_TORCHSCRIPT] =
        std::make_unique<testing::FakeModelInspector>();
    ModelRepositoryOptions repo_options;
    repo_options.data_dir = dir_.path();
    auto repo = ModelRepository::Create(repo_options, std::move(inspectors),
                                        /*metrics=*/nullptr);
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = *std::move(repo);
    v1::UploadModelHeader header;
    header.set_name("m");
    header.set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
    auto session = repo_->BeginUpload(header);
    ASSERT_TRUE(session.ok()) << session.status();
    ASSERT_TRUE((*session)->Append("fake model").ok());
    ASSERT_TRUE((*session)->Commit().ok());

    state_.registry = &registry_;
    ModelManagerOptions options;
    options.intra_op_threads = 1;
    options.backend_factory = [this](const v1::ModelVersion&,
                                     const std::string&) {
      return absl::StatusOr<std::unique_ptr<InferenceBackend>>(
          HoldingBackend(&state_));
    };
    manager_ = std::make_unique<ModelManager>(repo_.get(), &metrics_, options);
  }

  testing::TempDir dir_;
  prometheus::Registry registry_;
  InferenceMetrics metrics_{registry_};
  FakeState state_;
  std::unique_ptr<ModelRepository> repo_;
  std::unique_ptr<ModelManager> manager_;
};

TEST_F(ModelManagerTest, InstanceThreadsRunWithTheirOwnIntraOpThreads) {
  const int before = IntraOpThreadsOfCallingThread();
  std::atomic<int> seen{0};
  ModelManagerOptions options;
  options.intra_op_threads = before == 3 ? 2 : 3;
  options.backend_factory = [&seen](const v1::ModelVersion&,
                                    const std::string&) {
    return absl::StatusOr<std::unique_ptr<InferenceBackend>>(
        std::make_unique<pruneserve::testing::ScalingBackend>(
            1.0f, [&seen](const HostTensor&) {
              seen = IntraOpThreadsOfCallingThread();
            }));
  };
  ModelManager manager(repo_.get(), &metrics_, options);
  ASSERT_TRUE(manager.Load("m", 1).ok());
  std::vector<HostTensor> inputs;
  inputs.push_back(Input());
  auto outcome = manager.Infer("m", 1, std::move(inputs),
                               absl::InfiniteFuture(), nullptr);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(seen.load(), options.intra_op_threads);
  // Only the instance thread changed: the loading thread kept its own.
  EXPECT_EQ(IntraOpThreadsOfCallingThread(), before);
  manager.UnloadAll();
}

TEST_F(ModelManagerTest, LoadOfCorruptBlobIsDataLoss) {
  auto model = repo_->GetModel("m", 1);
  ASSERT_TRUE(model.ok());
  std::ofstream(repo_->BlobPath(*model), std::ios::trunc) << "fake modeL";
  auto loaded = manager_->Load("m", 1);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(loaded.status().message().find("m:1"), std::string::npos)
      << loaded.status();
  EXPECT_TRUE(manager_->LoadedVersions("m").empty());
}

TEST_F(ModelManagerTest, ReloadOfLoadedVersionKeepsItsMetrics) {
  ASSERT_TRUE(manager_->Load("m", 1).ok());
  // Replaces (and drops) the first copy, which shared the label set.
  ASSERT_TRUE(manager_->Load("m", 1).ok());
  std::vector<HostTensor> inputs;
  inputs.push_back(Input());
  auto outcome = manager_->Infer("m", 1, std::move(inputs),
                                 absl::InfiniteFuture(), nullptr);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(
      SeriesValue(registry_, "pruneserve_inference_request_success_total", "1"),
      1);
  EXPECT_EQ(
      SeriesValue(registry_, "pruneserve_inference_exec_count_total", "1"), 1);
  outcome = absl::UnknownError("drops the reference to the model");
  ASSERT_TRUE(manager_->Unload("m", 1).ok());
  EXPECT_EQ(
      SeriesValue(registry_, "pruneserve_inference_exec_count_total", "1"), -1);
}

// A caller gives up at its deadline while its batch is computing; the model
// is then unloaded, which drops the last reference. The batch finishes while
// the pool stops and records into the model's metrics: they must still be
// alive (and exported) then, and go once the pool has stopped.
TEST_F(ModelManagerTest, BatchOutlivingItsCallerRecordsIntoLiveMetrics) {
  InstancePoolOptions pool_options;
  pool_options.instances = 1;
  ASSERT_TRUE(manager_->Load("m", 1, &pool_options).ok());
  InstancePool* pool = nullptr;
  {
    auto loaded = manager_->Get("m", 1);
    ASSERT_TRUE(loaded.ok());
    pool = (*loaded)->pool.get();
  }
  state_.hold = true;

  absl::Status caller_status;
  std::thread caller([&] {
    std::vector<HostTensor> inputs;
    inputs.push_back(Input());
    caller_status = manager_
                        ->Infer("m", 1, std::move(inputs),
                                absl::Now() + absl::Milliseconds(300), nullptr)
                        .status();
  });
  state_.entered.WaitForNotification();
  caller.join();
  EXPECT_EQ(caller_status.code(), absl::StatusCode::kDeadlineExceeded);

  // A request queued straight on the pool (holding no reference to the
  // model) is failed when the pool starts stopping: that tells the test the
  // unload has reached the pool.
  absl::Status queued_status;
  std::thread queued([&] {
    InferenceRequest request;
    request.inputs.push_back(Input());
    queued_status = pool->Infer(std::move(request)).outputs.status();
  });
  while (pool->pending() < 1) std::this_thread::yield();

  std::thread unloader([&] { EXPECT_TRUE(manager_->Unload("m", 1).ok()); });
  queued.join();
  EXPECT_EQ(queued_status.code(), absl::StatusCode::kUnavailable);
  state_.release.Notify();
  unloader.join();

  EXPECT_EQ(state_.exec_count_at_batch_end, 0);
  EXPECT_EQ(
      SeriesValue(registry_, "pruneserve_inference_exec_count_total", "1"), -1);
}

}  // namespace
}  // namespace pruneserve::inference
