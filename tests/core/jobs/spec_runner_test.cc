// RunSpec on a small zoo model and Fashion-MNIST subsets: every stage
// reports its phase, in order, through the hooks; the register hook is the
// only side effect; cancellation stops the run before it.
#include "core/jobs/spec_runner.h"

#include <filesystem>
#include <string>
#include <vector>

#include "core/jobs/job_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/core/jobs/fashion_vgg.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::jobs {
namespace {

class SpecRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!FashionMnistInstalled()) {
      GTEST_SKIP() << "dataset-fashion-mnist is not installed";
    }
    auto module = SmallFashionVgg();
    ASSERT_TRUE(module.ok()) << module.status();
    model_ = *module;
  }

  // A resolved spec: uniform L1 pruning, `epochs` of fine-tuning on 200
  // images, evaluation on 100; with `stages`, quantize, export and compile.
  v1::JobSpec Spec(int64_t epochs, bool stages = false) {
    v1::JobSpec s;
    s.set_model_name("vgg");
    s.mutable_data()->set_train(FashionMnistSpec("train"));
    s.mutable_data()->set_eval(FashionMnistSpec("test"));
    s.mutable_data()->set_train_limit(200);
    s.mutable_data()->set_eval_limit(100);
    s.mutable_data()->set_calibration_images(64);
    s.mutable_pruning()->set_policy("uniform");
    s.mutable_pruning()->set_criterion("l1");
    s.mutable_finetune()->set_epochs(epochs);
    if (stages) {
      s.mutable_quantize()->set_enabled(true);
      s.mutable_quantize()->set_calibration_images(32);
      s.mutable_vitis_export()->set_compile(true);
      s.mutable_vitis_export()->set_calibration_images(8);
      s.mutable_vitis_export()->set_xmodel_name("vgg_dpu");
    }
    v1::ModelVersion model;
    model.set_name("vgg");
    model.set_version(1);
    model.set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
    for (int64_t d : {1, 1, 28, 28}) model.add_example_input_shape(d);
    auto resolved = ResolveJobSpec(s, model);
    EXPECT_TRUE(resolved.ok()) << resolved.status();
    return *resolved;
  }

  testing::TempDir dir_;
  torch::jit::Module model_;
};

TEST_F(SpecRunnerTest, StagesReportTheirPhasesInOrder) {
  const v1::JobSpec spec = Spec(/*epochs=*/1, /*stages=*/true);
  auto data = OpenJobData(spec);
  ASSERT_TRUE(data.ok()) << data.status();

  std::vector<std::string> phases;
  double last_fraction = 0.0;
  int registered = 0;
  SpecRunHooks hooks;
  hooks.progress = [&](const Progress& p) {
    if (phases.empty() || phases.back() != PhaseName(p.phase)) {
      phases.push_back(PhaseName(p.phase));
    }
    EXPECT_GE(p.fraction_done, last_fraction - 1e-9) << PhaseName(p.phase);
    last_fraction = p.fraction_done;
    if (p.phase == Phase::kFinetune) EXPECT_GT(p.params, 0);
  };
  hooks.checkpoint_dir = dir_.Join("checkpoints");
  hooks.export_dir = dir_.Join("export");
  const std::string out = dir_.Join("pruned.pt");
  hooks.register_model =
      [&](const torch::jit::Module& module,
          const v1::PipelineReport& report) -> absl::StatusOr<RegisteredModel> {
    ++registered;
    EXPECT_EQ(phases.back(), "register");
    EXPECT_TRUE(report.has_final_quantization());
    if (absl::Status s = SaveScriptModule(module, out); !s.ok()) return s;
    return RegisteredModel{out, 0};
  };
  auto outcome = RunSpec(spec, model_, *data, hooks);
  ASSERT_TRUE(outcome.ok()) << outcome.status();

  EXPECT_THAT(phases, ::testing::ElementsAre("evaluate", "prune", "evaluate",
                                             "finetune", "evaluate", "quantize",
                                             "register", "export", "compile"));
  EXPECT_DOUBLE_EQ(last_fraction, 1.0);
  EXPECT_EQ(registered, 1);
  EXPECT_EQ(outcome->model_name, out);
  EXPECT_TRUE(std::filesystem::exists(out));
  EXPECT_EQ(outcome->report.rounds_size(), 1);
  EXPECT_GT(outcome->report.params_reduction(), 0.3);
  EXPECT_TRUE(outcome->report.has_dense_quantization());
  EXPECT_EQ(outcome->export_dir, hooks.export_dir);
  EXPECT_TRUE(std::filesystem::exists(outcome->export_dir + "/manifest.json"));
  // No compiler given: the TorchScript result stands, the reason is kept.
  EXPECT_EQ(outcome->compile_status.code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(outcome->xmodel_name.empty());
}

TEST_F(SpecRunnerTest, WithoutOptionalStagesRegisterIsLast) {
  const v1::JobSpec spec = Spec(/*epochs=*/0);
  auto data = OpenJobData(spec);
  ASSERT_TRUE(data.ok()) << data.status();
  std::vector<Phase> phases;
  SpecRunHooks hooks;
  hooks.progress = [&](const Progress& p) {
    if (phases.empty() || phases.back() != p.phase) phases.push_back(p.phase);
  };
  hooks.register_model = [](const torch::jit::Module&,
                            const v1::PipelineReport&) {
    return absl::StatusOr<RegisteredModel>(RegisteredModel{"kept", 7});
  };
  auto outcome = RunSpec(spec, model_, *data, hooks);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_THAT(phases,
              ::testing::ElementsAre(Phase::kEvaluate, Phase::kPrune,
                                     Phase::kEvaluate, Phase::kRegister));
  EXPECT_EQ(outcome->model_name, "kept");
  EXPECT_EQ(outcome->model_version, 7);
  EXPECT_TRUE(outcome->export_dir.empty());
  EXPECT_TRUE(outcome->compile_status.ok());
}

TEST_F(SpecRunnerTest, CancelledRunRegistersNothing) {
  const v1::JobSpec spec = Spec(/*epochs=*/2);
  auto data = OpenJobData(spec);
  ASSERT_TRUE(data.ok()) << data.status();
  util::CancellationToken token;
  bool registered = false;
  SpecRunHooks hooks;
  hooks.cancel = &token;
  hooks.progress = [&](const Progress& p) {
    if (p.phase == Phase::kFinetune && p.step == 2) token.Cancel();
  };
  hooks.register_model = [&](const torch::jit::Module&,
                             const v1::PipelineReport&) {
    registered = true;
    return absl::StatusOr<RegisteredModel>(RegisteredModel{"x", 1});
  };
  EXPECT_EQ(RunSpec(spec, model_, *data, hooks).status().code(),
            absl::StatusCode::kCancelled);
  EXPECT_FALSE(registered);
}

TEST_F(SpecRunnerTest, ExportWithoutDirectoryIsFailedPrecondition) {
  v1::JobSpec spec = Spec(/*epochs=*/0);
  spec.mutable_vitis_export()->set_enabled(true);
  auto data = OpenJobData(spec);
  ASSERT_TRUE(data.ok()) << data.status();
  SpecRunHooks hooks;
  hooks.register_model = [](const torch::jit::Module&,
                            const v1::PipelineReport&) {
    return absl::StatusOr<RegisteredModel>(RegisteredModel{"x", 1});
  };
  EXPECT_EQ(RunSpec(spec, model_, *data, hooks).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // And a run without a register hook is refused before any work.
  hooks.register_model = nullptr;
  EXPECT_EQ(RunSpec(spec, model_, *data, hooks).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pruneserve::jobs
