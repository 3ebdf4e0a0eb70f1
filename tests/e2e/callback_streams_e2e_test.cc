// The callback services through the real binary: hundreds of idle
// WatchJob and upload streams hold no threads and leave inference and
// liveness answering, an idle upload is cut after the idle timeout without
// leaving its temp file, WatchJob pushes each change once, and the upload
// limit is refused with its code, message and metric.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/inference_client.h"
#include "client/repository_client.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "pruneserve/v1/model_repository.grpc.pb.h"
#include "pruneserve/v1/pruning_jobs.grpc.pb.h"
#include "tests/testing/hostile_models.h"
#include "tests/testing/http_get.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tiny_models.h"

namespace pruneserve {
namespace {

using testing::ServerProcess;

constexpr char kFashion[] = "/usr/share/datasets/fashion-mnist";

// Threads of process `pid`, from /proc/PID/status.
int ThreadCount(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

// Flags that let jobs name the Fashion-MNIST directory: servers that have
// --data_roots accept server paths only inside the given roots.
std::vector<std::string> DataRootFlags() {
  const std::string help =
      testing::RunCommand(
          absl::StrCat(testing::BuiltBinary("server/pruneserve"),
                       " --helpfull"))
          .output;
  if (help.find("--data_roots") == std::string::npos) return {};
  return {absl::StrCat("--data_roots=", kFashion)};
}

// A channel with its own TCP connection.
std::shared_ptr<grpc::Channel> Connection(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

void Deadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(60));
}

v1::UploadModelHeader TinyHeader() {
  v1::UploadModelHeader header;
  header.set_name("tiny");
  header.set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
  for (int d : {1, 1, 28, 28}) header.add_example_input_shape(d);
  return header;
}

absl::StatusOr<v1::Job> Submit(v1::PruningJobs::Stub& stub,
                               const v1::JobSpec& spec) {
  grpc::ClientContext ctx;
  Deadline(&ctx);
  v1::SubmitJobRequest q;
  *q.mutable_spec() = spec;
  v1::SubmitJobResponse r;
  grpc::Status s = stub.SubmitJob(&ctx, q, &r);
  if (!s.ok())
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                        s.error_message());
  return r.job();
}

grpc::Status Cancel(v1::PruningJobs::Stub& stub, const std::string& id) {
  grpc::ClientContext ctx;
  Deadline(&ctx);
  v1::CancelJobRequest q;
  q.set_id(id);
  v1::CancelJobResponse r;
  return stub.CancelJob(&ctx, q, &r);
}

// Fine-tuning on Fashion-MNIST for `epochs`: minutes for 50.
v1::JobSpec FinetuneSpec(int epochs) {
  v1::JobSpec spec;
  spec.set_model_name("tiny");
  spec.mutable_data()->set_train(
      absl::StrCat("fashion-mnist:", kFashion, ":train"));
  spec.mutable_finetune()->set_epochs(epochs);
  return spec;
}

struct OpenWatch {
  std::unique_ptr<grpc::ClientContext> ctx;
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader;
};

struct OpenUpload {
  std::unique_ptr<grpc::ClientContext> ctx;
  v1::UploadModelResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::UploadModelRequest>> writer;
};

TEST(CallbackStreamsE2eTest, IdleStreamsHoldNoThreadsAndServingGoesOn) {
  if (!std::filesystem::exists(std::string(kFashion) +
                               "/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  constexpr int kStreams = 200;
  testing::TempDir dir;
  std::vector<std::string> flags = {"--max_concurrent_uploads=200",
                                    "--upload_idle_timeout_seconds=600",
                                    "--job_workers=1"};
  for (std::string& f : DataRootFlags()) flags.push_back(std::move(f));
  auto server = ServerProcess::Start(dir.Join("data"), flags);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = (*server)->grpc_address();
  const std::string model_file = dir.Join("tiny.pt");
  testing::WriteTinyCnn(model_file);
  auto main_channel = Connection(address);
  ASSERT_TRUE(client::RepositoryClient(main_channel)
                  .Upload(TinyHeader(), model_file)
                  .ok());
  client::InferenceClient infer(main_channel, absl::Seconds(60));
  ASSERT_TRUE(infer.Load("tiny", {}).ok());
  auto jobs = v1::PruningJobs::NewStub(main_channel);

  // The one worker runs a long job; the watched one waits behind it.
  auto running = Submit(*jobs, FinetuneSpec(50));
  ASSERT_TRUE(running.ok()) << running.status();
  auto queued = Submit(*jobs, FinetuneSpec(1));
  ASSERT_TRUE(queued.ok()) << queued.status();
  const int threads_before = ThreadCount((*server)->pid());

  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < 8; ++i) channels.push_back(Connection(address));
  std::vector<OpenWatch> watches(kStreams);
  for (int i = 0; i < kStreams; ++i) {
    auto stub = v1::PruningJobs::NewStub(channels[i % channels.size()]);
    watches[i].ctx = std::make_unique<grpc::ClientContext>();
    v1::WatchJobRequest q;
    q.set_id(queued->id());
    watches[i].reader = stub->WatchJob(watches[i].ctx.get(), q);
    v1::JobEvent event;
    ASSERT_TRUE(watches[i].reader->Read(&event)) << "watch " << i;
    EXPECT_EQ(event.job().state(), v1::JOB_STATE_QUEUED);
  }
  std::vector<OpenUpload> uploads(kStreams);
  for (int i = 0; i < kStreams; ++i) {
    auto stub = v1::ModelRepository::NewStub(channels[i % channels.size()]);
    uploads[i].ctx = std::make_unique<grpc::ClientContext>();
    uploads[i].writer =
        stub->UploadModel(uploads[i].ctx.get(), &uploads[i].response);
    v1::UploadModelRequest header;
    *header.mutable_header() = TinyHeader();
    ASSERT_TRUE(uploads[i].writer->Write(header)) << "upload " << i;
  }

  // One more upload is over --max_concurrent_uploads. The uploads above
  // sent their headers; a round trip on every connection makes sure the
  // server has opened them all before the extra one arrives.
  for (auto& channel : channels) {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    ::inference::ServerLiveResponse live;
    ASSERT_TRUE(::inference::GRPCInferenceService::NewStub(channel)
                    ->ServerLive(&ctx, {}, &live)
                    .ok());
  }
  {
    auto stub = v1::ModelRepository::NewStub(main_channel);
    grpc::ClientContext ctx;
    Deadline(&ctx);
    v1::UploadModelResponse response;
    auto writer = stub->UploadModel(&ctx, &response);
    v1::UploadModelRequest header;
    *header.mutable_header() = TinyHeader();
    writer->Write(header);
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_NE(s.error_message().find("the limit is 200 "
                                     "(--max_concurrent_uploads)"),
              std::string::npos)
        << s.error_message();
  }

  // With 400 streams open: liveness and inference answer.
  {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    ::inference::ServerLiveResponse live;
    ASSERT_TRUE(::inference::GRPCInferenceService::NewStub(main_channel)
                    ->ServerLive(&ctx, {}, &live)
                    .ok());
    EXPECT_TRUE(live.live());
  }
  for (int i = 0; i < 20; ++i) {
    auto out = infer.Infer("tiny", 0, {1, 1, 28, 28},
                           std::vector<float>(28 * 28, 0.5f));
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->shape, (std::vector<int64_t>{1, 10}));
  }
  const int threads_open = ThreadCount((*server)->pid());
  std::printf(
      "server threads: %d before the streams, %d with %d WatchJob "
      "and %d upload streams open\n",
      threads_before, threads_open, kStreams, kStreams);
  RecordProperty("threads_before", threads_before);
  RecordProperty("threads_with_400_streams", threads_open);
  // The synchronous server held one thread per open stream; the callback
  // services hold none (a few for gRPC's own pollers at most).
  EXPECT_LT(threads_open, threads_before + 20);

  auto metrics = testing::HttpGet((*server)->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(testing::MetricValue(*metrics,
                                 "pruneserve_admission_refusals_total{limit="
                                 "\"max_concurrent_uploads\"}"),
            1);

  // Nothing changed, so nothing more arrived: the next event on every
  // watch is the cancellation, then the stream ends OK.
  ASSERT_TRUE(Cancel(*jobs, queued->id()).ok());
  for (int i = 0; i < kStreams; ++i) {
    v1::JobEvent event;
    ASSERT_TRUE(watches[i].reader->Read(&event)) << "watch " << i;
    EXPECT_EQ(event.job().state(), v1::JOB_STATE_CANCELLED) << "watch " << i;
    EXPECT_FALSE(watches[i].reader->Read(&event)) << "watch " << i;
    EXPECT_TRUE(watches[i].reader->Finish().ok()) << "watch " << i;
  }
  for (auto& u : uploads) u.ctx->TryCancel();
  for (auto& u : uploads) {
    EXPECT_EQ(u.writer->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  ASSERT_TRUE(Cancel(*jobs, running->id()).ok());
  EXPECT_EQ((*server)->Stop(SIGTERM), 0);
}

TEST(CallbackStreamsE2eTest, IdleUploadIsCutAndLeavesNoTempFile) {
  testing::TempDir dir;
  auto server = ServerProcess::Start(dir.Join("data"),
                                     {"--upload_idle_timeout_seconds=1"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = Connection((*server)->grpc_address());
  auto stub = v1::ModelRepository::NewStub(channel);
  const std::string tmp = dir.Join("data") + "/tmp";

  grpc::ClientContext ctx;
  Deadline(&ctx);
  v1::UploadModelResponse response;
  auto writer = stub->UploadModel(&ctx, &response);
  v1::UploadModelRequest message;
  *message.mutable_header() = TinyHeader();
  ASSERT_TRUE(writer->Write(message));
  message.set_chunk(std::string(4096, 'x'));
  ASSERT_TRUE(writer->Write(message));
  // The client sends nothing more and waits for the server's answer.
  grpc::Status s = writer->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_NE(s.error_message().find("no upload message arrived for 1s "
                                   "(--upload_idle_timeout_seconds)"),
            std::string::npos)
      << s.error_message();
  ASSERT_TRUE(std::filesystem::exists(tmp));
  EXPECT_TRUE(std::filesystem::is_empty(tmp));
  EXPECT_TRUE(client::RepositoryClient(channel).List("")->empty());

  // The server goes on: a whole upload succeeds.
  const std::string model_file = dir.Join("tiny.pt");
  testing::WriteTinyCnn(model_file);
  auto uploaded =
      client::RepositoryClient(channel).Upload(TinyHeader(), model_file);
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  EXPECT_EQ(uploaded->version(), 1);
  EXPECT_TRUE(std::filesystem::is_empty(tmp));
}

TEST(CallbackStreamsE2eTest, WatchJobPushesEachChangeOnce) {
  testing::TempDir dir;
  auto server = ServerProcess::Start(dir.Join("data"));
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = Connection((*server)->grpc_address());
  const std::string model_file = dir.Join("tiny.pt");
  testing::WriteTinyCnn(model_file);
  ASSERT_TRUE(
      client::RepositoryClient(channel).Upload(TinyHeader(), model_file).ok());
  auto jobs = v1::PruningJobs::NewStub(channel);
  // Uniform L1 pruning needs no data.
  v1::JobSpec spec;
  spec.set_model_name("tiny");
  spec.mutable_pruning()->set_policy("uniform");
  spec.mutable_pruning()->set_criterion("l1");
  auto job = Submit(*jobs, spec);
  ASSERT_TRUE(job.ok()) << job.status();

  grpc::ClientContext ctx;
  Deadline(&ctx);
  v1::WatchJobRequest q;
  q.set_id(job->id());
  auto reader = jobs->WatchJob(&ctx, q);
  std::vector<v1::Job> events;
  v1::JobEvent event;
  while (reader->Read(&event)) events.push_back(event.job());
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(events.back().progress().phase(), "done");
  // Every event differs from the one before: no repeats while nothing
  // changed. The final state comes once, and the phases the job went
  // through were each pushed.
  int done = 0;
  std::set<std::string> phases;
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].state() == v1::JOB_STATE_SUCCEEDED) ++done;
    phases.insert(events[i].progress().phase());
    if (i == 0) continue;
    EXPECT_NE(events[i].SerializeAsString(), events[i - 1].SerializeAsString())
        << "event " << i << " repeats the one before";
  }
  EXPECT_TRUE(phases.count("prune")) << events.size() << " events";
  EXPECT_TRUE(phases.count("register")) << events.size() << " events";
  if (events.front().state() == v1::JOB_STATE_QUEUED) {
    EXPECT_TRUE(phases.count("start"));
  }
  EXPECT_EQ(done, 1);
  std::printf("WatchJob events: %zu for a data-free job\n", events.size());

  // Watching an ended job sends it once and ends.
  grpc::ClientContext again;
  Deadline(&again);
  auto ended = jobs->WatchJob(&again, q);
  ASSERT_TRUE(ended->Read(&event));
  EXPECT_EQ(event.job().state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_FALSE(ended->Read(&event));
  EXPECT_TRUE(ended->Finish().ok());
  // An unknown job is NOT_FOUND.
  grpc::ClientContext unknown;
  Deadline(&unknown);
  q.set_id("job-424242");
  auto missing = jobs->WatchJob(&unknown, q);
  EXPECT_FALSE(missing->Read(&event));
  EXPECT_EQ(missing->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

// Whether some process has `parent` as its parent (from /proc/*/stat).
bool HasChildProcess(pid_t parent) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // pid (comm) state ppid ...: comm may hold spaces, so parse after ')'.
    const size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 1));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) return true;
  }
  return false;
}

TEST(CallbackStreamsE2eTest, UnaryCallWithoutDeadlineGetsTheServerDefault) {
  testing::TempDir dir;
  // One executor thread, busy for 5 s validating a model whose forward
  // never returns: a call queued behind it outlives the 1 s default.
  auto server = ServerProcess::Start(
      dir.Join("data"), {"--rpc_threads=1", "--default_rpc_deadline_seconds=1",
                         "--validator_timeout_seconds=5"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = Connection((*server)->grpc_address());
  const std::string endless = dir.Join("endless.pt");
  testing::WriteEndlessForwardModel(endless);
  absl::Status upload_status;
  std::thread upload([&] {
    upload_status = client::RepositoryClient(channel)
                        .Upload(TinyHeader(), endless)
                        .status();
  });
  // The commit runs on the only executor thread once the validator
  // process exists.
  while (!HasChildProcess((*server)->pid())) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto stub = v1::ModelRepository::NewStub(channel);
  {
    grpc::ClientContext ctx;  // no deadline
    v1::ListModelsResponse r;
    grpc::Status s = stub->ListModels(&ctx, {}, &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
    EXPECT_NE(s.error_message().find("--default_rpc_deadline_seconds"),
              std::string::npos)
        << s.error_message();
  }
  {
    // A client deadline is kept, even when longer than the default: the
    // call waits for the executor and gets its real answer.
    grpc::ClientContext ctx;
    Deadline(&ctx);
    v1::GetModelRequest q;
    q.set_name("tiny");
    v1::GetModelResponse r;
    EXPECT_EQ(stub->GetModel(&ctx, q, &r).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  upload.join();
  EXPECT_EQ(upload_status.code(), absl::StatusCode::kInvalidArgument)
      << upload_status;
}

}  // namespace
}  // namespace pruneserve
