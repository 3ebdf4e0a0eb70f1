// PruningPipeline on real data: a narrow VGG trained briefly on a
// Fashion-MNIST subset is pruned and fine-tuned; fine-tuning must recover
// accuracy lost to pruning, sizes must shrink and the report must agree with
// itself and with an independent FLOPs count. Also: option validation, early
// stop at a FLOPs target, cancellation during fine-tuning, the renderer.
#include "core/pipeline/pruning_pipeline.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <torch/torch.h>

#include <map>
#include <memory>
#include <set>
#include <string>

#include "core/data/dataset_spec.h"
#include "core/data/prefetching_loader.h"
#include "core/models/model_zoo.h"
#include "core/pipeline/pipeline_report.h"
#include "core/pruning/flops_counter.h"
#include "core/training/trainer.h"

namespace pruneserve::pipeline {
namespace {

constexpr char kFashionDir[] = "/usr/share/datasets/fashion-mnist";
const std::vector<int64_t> kInputShape = {1, 1, 28, 28};

bool FashionMnistInstalled() {
  struct stat st;
  return stat(
             (std::string(kFashionDir) + "/train-images-idx3-ubyte.gz").c_str(),
             &st) == 0;
}

std::unique_ptr<data::BatchSource> OpenSubset(const std::string& split,
                                              int64_t limit, bool shuffle) {
  auto spec = data::ParseDatasetSpec(std::string("fashion-mnist:") +
                                     kFashionDir + ":" + split);
  EXPECT_TRUE(spec.ok()) << spec.status();
  data::OpenOptions open;
  open.limit = limit;
  auto dataset = data::OpenDataset(*spec, open);
  EXPECT_TRUE(dataset.ok()) << dataset.status();
  data::FormatDefaults defaults = data::DefaultsFor(spec->format);
  data::LoaderOptions loader;
  loader.batch_size = 32;
  loader.shuffle = shuffle;
  loader.seed = 7;
  loader.num_threads = 1;
  loader.transform.channels = 1;
  loader.transform.mean = defaults.mean;
  loader.transform.std = defaults.std;
  auto source = data::PrefetchingLoader::Create(*dataset, loader);
  EXPECT_TRUE(source.ok()) << source.status();
  return std::move(*source);
}

class PruningPipelineTest : public ::testing::Test {
 protected:
  // Data and a briefly trained baseline, shared by the whole suite.
  static void SetUpTestSuite() {
    if (!FashionMnistInstalled()) return;
    train_ = OpenSubset("train", 2000, /*shuffle=*/true).release();
    eval_ = OpenSubset("test", 500, /*shuffle=*/false).release();
    models::ZooOptions zoo;
    zoo.arch = "vgg11_bn";
    zoo.in_channels = 1;
    zoo.width_multiplier = 0.25;
    zoo.input_size = 28;
    zoo.seed = 3;
    auto model = models::BuildZooModel(zoo);
    ASSERT_TRUE(model.ok()) << model.status();
    baseline_ = new torch::jit::Module(*model);
    training::TrainerOptions opts;
    opts.epochs = 2;
    opts.sgd.learning_rate = 0.05;
    opts.num_threads = 2;
    opts.seed = 1;
    auto trainer = training::Trainer::Create(baseline_, opts);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    auto trained = (*trainer)->Train(*train_);
    ASSERT_TRUE(trained.ok()) << trained.status();
    baseline_->eval();
  }

  static void TearDownTestSuite() {
    delete train_;
    delete eval_;
    delete baseline_;
    train_ = nullptr;
    eval_ = nullptr;
    baseline_ = nullptr;
  }

  void SetUp() override {
    if (!FashionMnistInstalled()) {
      GTEST_SKIP() << "dataset-fashion-mnist is not installed";
    }
    ASSERT_NE(baseline_, nullptr);
  }

  // Uniform BN-gamma pruning of half the channels: removes a large, fixed
  // share regardless of how sparse the briefly trained net is.
  static PipelineOptions HalvingOptions(int64_t epochs) {
    PipelineOptions o;
    o.input_shape = kInputShape;
    o.pruning.policy.kind = pruning::PolicyKind::kUniform;
    o.pruning.policy.ratio = 0.5;
    o.finetune.epochs = epochs;
    o.finetune.num_threads = 2;
    o.finetune.seed = 5;
    o.calibration_examples = 128;
    return o;
  }

  static data::BatchSource* train_;
  static data::BatchSource* eval_;
  static torch::jit::Module* baseline_;
};

data::BatchSource* PruningPipelineTest::train_ = nullptr;
data::BatchSource* PruningPipelineTest::eval_ = nullptr;
torch::jit::Module* PruningPipelineTest::baseline_ = nullptr;

TEST(PruningPipelineOptionsTest, DefaultsAreThePapers) {
  PipelineOptions o;
  EXPECT_EQ(o.pruning.criterion, pruning::CriterionKind::kBnGamma);
  EXPECT_EQ(o.pruning.policy.kind, pruning::PolicyKind::kRefined);
  EXPECT_DOUBLE_EQ(o.finetune.sgd.learning_rate, 0.01);
  EXPECT_DOUBLE_EQ(o.finetune.sgd.momentum, 0.9);
  EXPECT_TRUE(o.finetune.sgd.nesterov);
  EXPECT_DOUBLE_EQ(o.finetune.sgd.weight_decay, 1e-4);
  EXPECT_EQ(o.finetune.schedule.kind,
            training::LrScheduleOptions::Kind::kCosineWarmRestarts);
  EXPECT_DOUBLE_EQ(o.finetune.schedule.eta_min, 1e-5);
  EXPECT_EQ(o.rounds, 1);
}

TEST(PruningPipelineOptionsTest, CreateRejectsBadOptions) {
  PipelineOptions o;
  EXPECT_EQ(PruningPipeline::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);  // no input shape
  o.input_shape = kInputShape;
  EXPECT_TRUE(PruningPipeline::Create(o).ok());
  PipelineOptions bad_rounds = o;
  bad_rounds.rounds = 0;
  EXPECT_EQ(PruningPipeline::Create(bad_rounds).status().code(),
            absl::StatusCode::kInvalidArgument);
  PipelineOptions bad_target = o;
  bad_target.target_flops_reduction = 1.0;
  EXPECT_EQ(PruningPipeline::Create(bad_target).status().code(),
            absl::StatusCode::kInvalidArgument);
  PipelineOptions bad_epochs = o;
  bad_epochs.finetune.epochs = -1;
  EXPECT_EQ(PruningPipeline::Create(bad_epochs).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PruningPipelineTest, FinetuningRecoversAccuracyAndReportIsConsistent) {
  PipelineOptions options = HalvingOptions(/*epochs=*/2);
  std::set<std::string> phases;
  int64_t finetune_steps = 0;
  options.progress = [&](const Progress& p) {
    phases.insert(PhaseName(p.phase));
    if (p.phase == Phase::kFinetune) {
      ++finetune_steps;
      EXPECT_EQ(p.num_epochs, 2);
      EXPECT_GT(p.images_per_second, 0.0);
    }
  };
  auto pipeline = PruningPipeline::Create(options);
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  auto result = (*pipeline)->Run(*baseline_, {train_, eval_, nullptr});
  ASSERT_TRUE(result.ok()) << result.status();
  const v1::PipelineReport& r = result->report;

  EXPECT_EQ(phases, (std::set<std::string>{"prune", "finetune", "evaluate"}));
  EXPECT_EQ(finetune_steps, 2 * (2000 / 32 + 1));

  ASSERT_EQ(r.rounds_size(), 1);
  const v1::PipelineRound& round = r.rounds(0);
  EXPECT_EQ(r.stop_reason(), v1::PipelineReport::ROUNDS_COMPLETED);
  EXPECT_EQ(r.baseline().eval_examples(), 500);
  // The baseline learned something; pruning half the channels hurt it and
  // fine-tuning won (a good part of) it back.
  EXPECT_GT(r.baseline().top1_accuracy(), 0.5);
  EXPECT_GT(round.after_finetune().top1_accuracy(),
            round.after_prune().top1_accuracy());
  EXPECT_GE(round.after_finetune().top5_accuracy(),
            round.after_finetune().top1_accuracy());

  // Sizes dropped, and every place that records them agrees.
  EXPECT_LT(r.final().params(), r.baseline().params());
  EXPECT_LT(r.final().flops(), r.baseline().flops());
  EXPECT_EQ(round.pruning().params_before(), r.baseline().params());
  EXPECT_EQ(round.pruning().flops_before(), r.baseline().flops());
  EXPECT_EQ(round.pruning().params_after(), round.after_prune().params());
  EXPECT_EQ(round.pruning().flops_after(), round.after_prune().flops());
  EXPECT_EQ(round.after_finetune().params(), round.after_prune().params());
  EXPECT_EQ(r.final().top1_accuracy(), round.after_finetune().top1_accuracy());
  EXPECT_NEAR(r.params_reduction(),
              1.0 - double(r.final().params()) / r.baseline().params(), 1e-12);
  EXPECT_NEAR(r.flops_reduction(),
              1.0 - double(r.final().flops()) / r.baseline().flops(), 1e-12);
  EXPECT_GT(r.flops_reduction(), 0.4);  // half the channels of most convs
  EXPECT_NEAR(r.top1_drop(),
              r.baseline().top1_accuracy() - r.final().top1_accuracy(), 1e-12);
  EXPECT_EQ(round.finetune_epochs(), 2);
  EXPECT_GT(round.finetune_ms(), 0.0);
  EXPECT_GT(round.prune_ms(), 0.0);
  EXPECT_GE(r.elapsed_ms(), round.finetune_ms());
  EXPECT_NE(r.finetune_schedule().find("nesterov"), std::string::npos);

  // The returned module is the one the report describes.
  auto cost = pruning::CountModelCost(result->module, kInputShape);
  ASSERT_TRUE(cost.ok()) << cost.status();
  EXPECT_EQ(cost->total_params, r.final().params());
  EXPECT_EQ(cost->total_macs, r.final().flops());
  // And the caller's model was left alone.
  auto base_cost = pruning::CountModelCost(*baseline_, kInputShape);
  ASSERT_TRUE(base_cost.ok());
  EXPECT_EQ(base_cost->total_params, r.baseline().params());

  const std::string table = RenderPipelineReport(r);
  EXPECT_NE(table.find("baseline"), std::string::npos);
  EXPECT_NE(table.find("round 0 fine-tuned"), std::string::npos);
  EXPECT_NE(table.find("stopped: rounds completed"), std::string::npos);
}

TEST_F(PruningPipelineTest, StopsEarlyWhenFlopsTargetIsReached) {
  PipelineOptions options = HalvingOptions(/*epochs=*/0);
  options.pruning.policy.ratio = 0.3;
  options.rounds = 3;
  options.target_flops_reduction = 0.2;
  auto pipeline = PruningPipeline::Create(options);
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  auto result = (*pipeline)->Run(*baseline_, {nullptr, nullptr, train_});
  ASSERT_TRUE(result.ok()) << result.status();
  const v1::PipelineReport& r = result->report;
  EXPECT_EQ(r.stop_reason(), v1::PipelineReport::TARGET_FLOPS_REACHED);
  ASSERT_EQ(r.rounds_size(), 1);
  EXPECT_GE(r.flops_reduction(), 0.2);
  // Without evaluation data nothing is evaluated.
  EXPECT_EQ(r.baseline().top1_accuracy(), -1.0);
  EXPECT_EQ(r.rounds(0).finetune_epochs(), 0);
  EXPECT_EQ(r.rounds(0).after_finetune().flops(),
            r.rounds(0).after_prune().flops());
}

TEST_F(PruningPipelineTest, RoundsCompoundWithoutTarget) {
  PipelineOptions options = HalvingOptions(/*epochs=*/0);
  options.pruning.policy.ratio = 0.3;
  options.rounds = 2;
  auto pipeline = PruningPipeline::Create(options);
  ASSERT_TRUE(pipeline.ok());
  auto result = (*pipeline)->Run(*baseline_, {nullptr, nullptr, train_});
  ASSERT_TRUE(result.ok()) << result.status();
  const v1::PipelineReport& r = result->report;
  ASSERT_EQ(r.rounds_size(), 2);
  EXPECT_EQ(r.rounds(1).pruning().params_before(),
            r.rounds(0).pruning().params_after());
  EXPECT_LT(r.rounds(1).after_prune().params(),
            r.rounds(0).after_prune().params());
}

// The refined rule over three rounds with the halving cap on each layer's
// cumulative removal: no layer ends with more than half of its channels
// gone (plus the one channel per round the rule's threshold may take with
// it), whatever its sparsity each round.
TEST_F(PruningPipelineTest, CumulativeHalvingCapsEachLayersTotalRemoval) {
  PipelineOptions options = HalvingOptions(/*epochs=*/0);
  options.pruning.policy.kind = pruning::PolicyKind::kRefined;
  options.pruning.policy.cumulative_halving = true;
  options.rounds = 3;
  auto pipeline = PruningPipeline::Create(options);
  ASSERT_TRUE(pipeline.ok());
  auto result = (*pipeline)->Run(*baseline_, {nullptr, nullptr, train_});
  ASSERT_TRUE(result.ok()) << result.status();
  const v1::PipelineReport& r = result->report;
  ASSERT_EQ(r.rounds_size(), 3);
  std::map<std::string, int64_t> original, last;
  for (const auto& layer : r.rounds(0).pruning().layers()) {
    original[layer.name()] = layer.channels_before();
  }
  for (const auto& round : r.rounds()) {
    for (const auto& layer : round.pruning().layers()) {
      last[layer.name()] = layer.channels_after();
    }
  }
  int pruned_layers = 0;
  for (const auto& [name, before] : original) {
    ASSERT_TRUE(last.count(name)) << name;
    const int64_t removed = before - last[name];
    if (removed > 0) ++pruned_layers;
    EXPECT_LE(removed, before / 2 + 3)
        << name << ": " << before << " -> " << last[name];
  }
  EXPECT_GT(pruned_layers, 0);
}

// A progressive budgeted schedule: three steps toward 60 % of MACs, each
// reaching a third more of it, counted against the baseline.
TEST_F(PruningPipelineTest, ProgressiveStepsSplitTheTargetEvenly) {
  PipelineOptions options = HalvingOptions(/*epochs=*/0);
  options.pruning.policy.kind = pruning::PolicyKind::kBudgeted;
  options.pruning.policy.target_flops_reduction = 0.6;
  options.rounds = 3;
  options.split_target = true;
  auto pipeline = PruningPipeline::Create(options);
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  auto result = (*pipeline)->Run(*baseline_, {nullptr, nullptr, train_});
  ASSERT_TRUE(result.ok()) << result.status();
  const v1::PipelineReport& r = result->report;
  ASSERT_EQ(r.rounds_size(), 3);
  const double base = static_cast<double>(r.baseline().flops());
  for (int i = 0; i < 3; ++i) {
    const double reached = 1.0 - r.rounds(i).after_prune().flops() / base;
    EXPECT_GE(reached, 0.2 * (i + 1) - 1e-9) << "step " << i;
    EXPECT_LT(reached, 0.2 * (i + 1) + 0.05) << "step " << i;
    EXPECT_EQ(r.rounds(i).pruning().policy(), "budgeted");
  }
  // Steps need a policy with a target.
  PipelineOptions uniform = HalvingOptions(0);
  uniform.split_target = true;
  EXPECT_EQ(PruningPipeline::Create(uniform).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PruningPipelineTest, CancelDuringFinetuningReturnsCancelled) {
  util::CancellationToken token;
  PipelineOptions options = HalvingOptions(/*epochs=*/2);
  int64_t steps_after_cancel = 0;
  options.progress = [&](const Progress& p) {
    if (p.phase != Phase::kFinetune) return;
    if (token.IsCancelled()) ++steps_after_cancel;
    if (p.step == 3) token.Cancel();
  };
  auto pipeline = PruningPipeline::Create(options);
  ASSERT_TRUE(pipeline.ok());
  auto result = (*pipeline)->Run(*baseline_, {train_, eval_, nullptr}, &token);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled)
      << result.status();
  EXPECT_EQ(steps_after_cancel, 0);
}

TEST_F(PruningPipelineTest, MissingTrainingDataIsAPreconditionError) {
  auto pipeline = PruningPipeline::Create(HalvingOptions(/*epochs=*/1));
  ASSERT_TRUE(pipeline.ok());
  auto result = (*pipeline)->Run(*baseline_, {nullptr, eval_, nullptr});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(PruningPipelineTest, AlreadyCancelledTokenStopsBeforeWork) {
  util::CancellationToken token;
  token.Cancel();
  auto pipeline = PruningPipeline::Create(HalvingOptions(/*epochs=*/1));
  ASSERT_TRUE(pipeline.ok());
  auto result = (*pipeline)->Run(*baseline_, {train_, eval_, nullptr}, &token);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace pruneserve::pipeline
