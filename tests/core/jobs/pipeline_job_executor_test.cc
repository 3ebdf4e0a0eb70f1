// The production executor on real parts: a SQLite/blob repository, a zoo
// model, Fashion-MNIST subsets, the real pipeline and trainer.
#include "core/jobs/pipeline_job_executor.h"

#include <filesystem>
#include <fstream>

#include "core/torchscript/torchscript_inspector.h"
#include "core/xmodel/xmodel_inspector.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/core/jobs/fashion_vgg.h"
#include "tests/core/xmodel/sample_xmodel.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::jobs {
namespace {

class PipelineJobExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!FashionMnistInstalled()) {
      GTEST_SKIP() << "dataset-fashion-mnist is not installed";
    }
    ModelRepository::InspectorMap inspectors;
    inspectors[v1::MODEL_FORMAT_TORCHSCRIPT] =
        std::make_unique<TorchScriptInspector>();
    inspectors[v1::MODEL_FORMAT_XMODEL] = std::make_unique<XmodelInspector>();
    ModelRepositoryOptions options;
    options.data_dir = dir_.Join("data");
    repo_ = *ModelRepository::Create(options, std::move(inspectors), nullptr);
    auto module = SmallFashionVgg();
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
    s->mutable_data()->set_train(FashionMnistSpec("train"));
    s->mutable_data()->set_eval(FashionMnistSpec("test"));
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
  util::CancellationToken token;
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
    util::CancellationToken token;
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
  util::CancellationToken token;
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

// The process dying at the end of a job, after its result was stored and
// registered but before the job's state was written, makes the job run
// again at the next start (attempts 2). That run must hand back the
// version already registered, not add a second one. A half-written
// result.pt left by a death before registration is simply replaced.
TEST_F(PipelineJobExecutorTest, RerunAfterDeathAtRegisterAddsNoSecondVersion) {
  PipelineJobExecutor executor(repo_.get());
  v1::Job job = Job(1);
  const std::string work = dir_.Join("work");
  std::filesystem::create_directories(work);
  auto run = [&]() {
    util::CancellationToken token;
    JobContext c;
    c.job = &job;
    c.work_dir = work;
    c.cancel = &token;
    return executor.Execute(c);
  };
  // A death between saving result.pt and registering it.
  std::ofstream(work + "/result.pt") << "half a zip";
  auto first = run();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->model_version, 2);
  const std::string sha = repo_->GetModel("vgg", 2)->sha256();

  // A death between registering and recording the job's state.
  job.set_attempts(2);
  auto again = run();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->model_version, 2);
  auto versions = repo_->ListModels("vgg");
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->size(), 2u);
  EXPECT_EQ(repo_->GetModel("vgg", 2)->sha256(), sha);
  EXPECT_EQ(repo_->GetModel("vgg", 2)->lineage().job_id(), job.id());
}

TEST_F(PipelineJobExecutorTest, QuantizeExportAndCompileStages) {
  // A stand-in toolchain: copies a prepared xmodel into the output dir.
  const std::string sample = dir_.Join("sample.xmodel");
  {
    std::ofstream out(sample, std::ios::binary);
    ASSERT_TRUE(xmodel::testing::SampleGraph().SerializeToOstream(&out));
  }
  vitis::ExternalCompilerOptions compiler_options;
  compiler_options.command_template =
      "/bin/cp " + sample + " {output_dir}/{name}.xmodel";
  compiler_options.work_root = dir_.Join("compile");
  auto compiler = vitis::ExternalCompiler::Create(compiler_options);
  ASSERT_TRUE(compiler.ok()) << compiler.status();
  PipelineJobExecutorOptions options;
  options.export_root = dir_.Join("exports");
  options.compiler = compiler->get();
  PipelineJobExecutor executor(repo_.get(), options);

  v1::Job job = Job(0);
  job.mutable_spec()->mutable_quantize()->set_enabled(true);
  job.mutable_spec()->mutable_quantize()->set_method("mse");
  job.mutable_spec()->mutable_quantize()->set_calibration_images(64);
  job.mutable_spec()->mutable_vitis_export()->set_enabled(true);
  job.mutable_spec()->mutable_vitis_export()->set_compile(true);
  job.mutable_spec()->mutable_vitis_export()->set_calibration_images(32);
  job.mutable_spec()->mutable_vitis_export()->set_xmodel_name("vgg_dpu");
  util::CancellationToken token;
  std::vector<std::string> phases;
  JobContext c;
  c.job = &job;
  c.work_dir = dir_.Join("work");
  std::filesystem::create_directories(c.work_dir);
  c.cancel = &token;
  c.progress = [&](const v1::JobProgress& p) {
    if (phases.empty() || phases.back() != p.phase())
      phases.push_back(p.phase());
  };
  auto outcome = executor.Execute(c);
  ASSERT_TRUE(outcome.ok()) << outcome.status();

  const v1::PipelineReport& report = outcome->report;
  ASSERT_TRUE(report.has_dense_quantization());
  ASSERT_TRUE(report.has_final_quantization());
  EXPECT_TRUE(report.final_quantization().evaluated());
  EXPECT_EQ(report.final_quantization().method(), "mse");
  EXPECT_GT(report.final_quantization().tensors_size(), 0);
  EXPECT_DOUBLE_EQ(report.final_quantization().float_top1(),
                   report.final().top1_accuracy());
  // Stored with the TorchScript version too.
  v1::PipelineReport stored_report;
  ASSERT_TRUE(
      stored_report.ParseFromString(repo_->GetModel("vgg", 2)->report()));
  EXPECT_TRUE(stored_report.has_dense_quantization());

  EXPECT_EQ(outcome->export_dir, dir_.Join("exports/job-000007"));
  EXPECT_TRUE(std::filesystem::exists(outcome->export_dir + "/manifest.json"));
  EXPECT_TRUE(
      std::filesystem::exists(outcome->export_dir + "/channel_config.json"));
  EXPECT_TRUE(outcome->compile_status.ok()) << outcome->compile_status;
  EXPECT_EQ(outcome->xmodel_name, "vgg_dpu");
  auto xmodel = repo_->GetModel("vgg_dpu", outcome->xmodel_version);
  ASSERT_TRUE(xmodel.ok()) << xmodel.status();
  EXPECT_EQ(xmodel->format(), v1::MODEL_FORMAT_XMODEL);
  EXPECT_EQ(xmodel->lineage().parent_name(), "vgg");
  EXPECT_EQ(xmodel->lineage().parent_version(), 2);
  EXPECT_THAT(phases, ::testing::IsSupersetOf(
                          {"quantize", "register", "export", "compile"}));
}

TEST_F(PipelineJobExecutorTest, MissingToolchainKeepsTheTorchScriptResult) {
  vitis::ExternalCompilerOptions compiler_options;
  compiler_options.command_template =
      "no-such-vitis-tool {export_dir} {output_dir}";
  compiler_options.work_root = dir_.Join("compile");
  auto compiler = *vitis::ExternalCompiler::Create(compiler_options);
  PipelineJobExecutorOptions options;
  options.export_root = dir_.Join("exports");
  options.compiler = compiler.get();
  PipelineJobExecutor executor(repo_.get(), options);
  v1::Job job = Job(0);
  job.mutable_spec()->mutable_vitis_export()->set_compile(true);
  job.mutable_spec()->mutable_vitis_export()->set_enabled(true);
  job.mutable_spec()->mutable_vitis_export()->set_calibration_images(8);
  job.mutable_spec()->mutable_vitis_export()->set_xmodel_name("vgg_dpu");
  util::CancellationToken token;
  JobContext c;
  c.job = &job;
  c.work_dir = dir_.Join("work");
  std::filesystem::create_directories(c.work_dir);
  c.cancel = &token;
  auto outcome = executor.Execute(c);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->model_version, 2);
  EXPECT_EQ(outcome->compile_status.code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(outcome->compile_status.message().find("no-such-vitis-tool"),
            std::string::npos)
      << outcome->compile_status;
  EXPECT_TRUE(outcome->xmodel_name.empty());
  EXPECT_TRUE(std::filesystem::exists(outcome->export_dir + "/model.pt"));
}

TEST_F(PipelineJobExecutorTest, MissingModelIsNotFound) {
  PipelineJobExecutor executor(repo_.get());
  v1::Job job = Job(0);
  job.mutable_spec()->set_model_version(9);
  util::CancellationToken token;
  JobContext c;
  c.job = &job;
  c.work_dir = dir_.Join("work");
  std::filesystem::create_directories(c.work_dir);
  c.cancel = &token;
  EXPECT_EQ(executor.Execute(c).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace pruneserve::jobs
