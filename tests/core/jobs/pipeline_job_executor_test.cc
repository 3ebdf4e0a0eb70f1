// The production executor on real parts: a SQLite/blob repository, a zoo
// model, Fashion-MNIST subsets, the real pipeline and trainer.
#include "core/jobs/pipeline_job_executor.h"

#include <filesystem>

#include "core/models/model_zoo.h"
#include "core/torchscript/torchscript_inspector.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::jobs {
namespace {

constexpr char kFashion[] = "/usr/share/datasets/fashion-mnist";

class PipelineJobExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(std::string(kFashion) +
                                 "/train-images-idx3-ubyte.gz")) {
      GTEST_SKIP() << "dataset-fashion-mnist is not installed";
    }
    ModelRepository::InspectorMap inspectors;
    inspectors[v1::MODEL_FORMAT_TORCHSCRIPT] =
        std::make_unique<TorchScriptInspector>();
    ModelRepositoryOptions options;
    options.data_dir = dir_.Join("data");
    repo_ = *ModelRepository::Create(options, std::move(inspectors), nullptr);
    models::ZooOptions zoo;
    zoo.arch = "vgg11_bn";
    zoo.in_channels = 1;
    zoo.input_size = 28;
    zoo.width_multiplier = 0.25;
    auto module = models::BuildZooModel(zoo);
    ASSERT_TRUE(module.ok()) << module.status();
    const std::string path = dir_.Join("vgg.pt");
    module->save(path);
    v1::UploadModelHeader header;
    header.set_name("vgg");
    header.set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
    for (int64_t d : {1, 1, 28, 28}) header.add_example_input_shape(d);
    auto stored = repo_->AddFile(header, path, {}, "");
    ASSERT_TRUE(stored.ok()) << stored.status();
  }

  v1::Job Job(int64_t epochs) {
    v1::Job job;
    job.set_id("job-000007");
    job.set_attempts(1);
    v1::JobSpec* s = job.mutable_spec();
    s->set_model_name("vgg");
    s->set_model_version(1);
    s->set_output_name("vgg");
    for (int64_t d : {1, 1, 28, 28}) s->add_input_shape(d);
    const std::string fashion = std::string("fashion-mnist:") + kFashion;
    s->mutable_data()->set_train(fashion + ":train");
    s->mutable_data()->set_eval(fashion + ":test");
    s->mutable_data()->set_train_limit(200);
    s->mutable_data()->set_eval_limit(100);
    s->mutable_data()->set_calibration_images(64);
    s->mutable_pruning()->set_policy("uniform");
    s->mutable_pruning()->set_criterion("l1");
    s->mutable_pruning()->set_ratio(0.5);
    s->mutable_pruning()->set_round_to(1);
    s->mutable_pruning()->set_min_channels(2);
    s->mutable_finetune()->set_epochs(epochs);
    s->mutable_finetune()->set_learning_rate(0.01);
    s->mutable_finetune()->set_momentum(0.9);
    s->mutable_finetune()->set_weight_decay(1e-4);
    s->mutable_finetune()->set_batch_size(20);
    s->set_rounds(1);
    return job;
  }

  testing::TempDir dir_;
  std::unique_ptr<ModelRepository> repo_;
};

TEST_F(PipelineJobExecutorTest, RegistersPrunedVersionWithLineageAndReport) {
  PipelineJobExecutor executor(repo_.get());
  const v1::Job job = Job(1);
  training::CancellationToken token;
  std::vector<v1::JobProgress> events;
  JobContext c;
  c.job = &job;
  c.work_dir = dir_.Join("work");
  std::filesystem::create_directories(c.work_dir);
  c.cancel = &token;
  c.progress = [&](const v1::JobProgress& p) { events.push_back(p); };
  auto outcome = executor.Execute(c);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->model_name, "vgg");
  EXPECT_EQ(outcome->model_version, 2);

  auto stored = repo_->GetModel("vgg", 2);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->lineage().parent_name(), "vgg");
  EXPECT_EQ(stored->lineage().parent_version(), 1);
  EXPECT_EQ(stored->lineage().job_id(), "job-000007");
  EXPECT_EQ(stored->lineage().policy(), "uniform");
  v1::PipelineReport report;
  ASSERT_TRUE(report.ParseFromString(stored->report()));
  EXPECT_EQ(report.rounds_size(), 1);
  EXPECT_GT(report.params_reduction(), 0.3);
  EXPECT_EQ(stored->parameter_count(), report.final().params());
  EXPECT_LT(stored->parameter_count(),
            repo_->GetModel("vgg", 1)->parameter_count());
  EXPECT_GE(report.baseline().top1_accuracy(), 0.0);

  // Progress: phases in order, completion never goes backwards, sizes and
  // fine-tuning throughput reported.
  ASSERT_FALSE(events.empty());
  double last = 0.0;
  bool saw_finetune = false;
  for (const auto& p : events) {
    EXPECT_GE(p.fraction_done(), last - 1e-9) << p.phase();
    last = p.fraction_done();
    if (p.phase() == "finetune") {
      saw_finetune = true;
      EXPECT_GT(p.params(), 0);
      EXPECT_GT(p.images_per_second(), 0.0);
    }
  }
  EXPECT_TRUE(saw_finetune);
  EXPECT_EQ(events.back().phase(), "register");
  EXPECT_DOUBLE_EQ(events.back().fraction_done(), 1.0);
}

TEST_F(PipelineJobExecutorTest, CancelledRunResumesFromItsCheckpoint) {
  PipelineJobExecutor executor(repo_.get());
  v1::Job job = Job(3);
  const std::string work = dir_.Join("work");
  std::filesystem::create_directories(work);
  {
    // Cancel as soon as the second epoch starts: epoch 0's checkpoint is on
    // disk.
    training::CancellationToken token;
    JobContext c;
    c.job = &job;
    c.work_dir = work;
    c.cancel = &token;
    c.progress = [&](const v1::JobProgress& p) {
      if (p.phase() == "finetune" && p.epoch() >= 1) token.Cancel();
    };
    auto outcome = executor.Execute(c);
    EXPECT_EQ(outcome.status().code(), absl::StatusCode::kCancelled);
  }
  EXPECT_EQ(repo_->ListModels("vgg")->size(), 1u);  // nothing registered
  job.set_attempts(2);
  training::CancellationToken token;
  int64_t first_epoch = -1;
  JobContext c;
  c.job = &job;
  c.work_dir = work;
  c.cancel = &token;
  c.progress = [&](const v1::JobProgress& p) {
    if (p.phase() == "finetune" && first_epoch < 0) first_epoch = p.epoch();
  };
  auto outcome = executor.Execute(c);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(first_epoch, 1);  // epoch 0 was not trained again
  EXPECT_EQ(outcome->report.rounds(0).finetune_epochs(), 3);
}

TEST_F(PipelineJobExecutorTest, MissingModelIsNotFound) {
  PipelineJobExecutor executor(repo_.get());
  v1::Job job = Job(0);
  job.mutable_spec()->set_model_version(9);
  training::CancellationToken token;
  JobContext c;
  c.job = &job;
  c.work_dir = dir_.Join("work");
  c.cancel = &token;
  EXPECT_EQ(executor.Execute(c).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace pruneserve::jobs
