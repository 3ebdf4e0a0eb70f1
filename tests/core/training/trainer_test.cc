// The fine-tuning loop: a hand-checked Nesterov SGD step, learning on a
// separable set, BatchNorm mode handling, distillation, cancellation within
// one step, and checkpoint/resume equivalence (including a damaged newest
// checkpoint).
#include "core/training/trainer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "core/training/training_checkpoint.h"
#include "tests/core/training/quadrant_images.h"
#include "tests/testing/in_memory_batch_source.h"
#include "tests/core/training/test_models.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::training {
namespace {

using pruneserve::testing::InMemoryBatchSource;

double Sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

TEST(TrainerTest, DefaultsAreThePapers) {
  TrainerOptions o;
  EXPECT_DOUBLE_EQ(o.sgd.learning_rate, 0.01);
  EXPECT_DOUBLE_EQ(o.sgd.momentum, 0.9);
  EXPECT_TRUE(o.sgd.nesterov);
  EXPECT_DOUBLE_EQ(o.sgd.weight_decay, 1e-4);
  EXPECT_EQ(o.schedule.kind, LrScheduleOptions::Kind::kCosineWarmRestarts);
  EXPECT_LE(o.schedule.t0_epochs, 0);  // i.e. T_0 = epochs
  EXPECT_DOUBLE_EQ(o.schedule.eta_min, 1e-5);
  EXPECT_EQ(o.distillation.teacher, nullptr);
  EXPECT_DOUBLE_EQ(o.label_smoothing, 0.0);
}

TEST(TrainerTest, NesterovStepsMatchHandComputation) {
  // One example x = 1, label 0; logits (w, 0); loss = log(1 + exp(-w)),
  // dL/dw = sigmoid(w) - 1. Two epochs of one step each.
  const double w0 = 0.5, lr = 0.1, mu = 0.9, wd = 1e-4;
  torch::jit::Module model = testing::MakeOneWeightNet(w0);
  InMemoryBatchSource source(torch::ones({1, 1, 1, 1}),
                             torch::zeros({1}, torch::kLong), 2, 1);
  TrainerOptions options;
  options.epochs = 2;
  options.sgd.learning_rate = lr;
  options.sgd.momentum = mu;
  options.sgd.weight_decay = wd;
  options.sgd.nesterov = true;
  options.schedule.kind = LrScheduleOptions::Kind::kConstant;
  auto trainer = Trainer::Create(&model, options);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  auto result = (*trainer)->Train(source);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->global_step, 2);

  // Step 1: g1 = dL/dw + wd*w; buf = g1; update = g1 + mu*buf.
  const double g1 = (Sigmoid(w0) - 1) + wd * w0;
  double buf = g1;
  const double w1 = w0 - lr * (g1 + mu * buf);
  // Step 2: buf = mu*buf + g2; update = g2 + mu*buf.
  const double g2 = (Sigmoid(w1) - 1) + wd * w1;
  buf = mu * buf + g2;
  const double w2 = w1 - lr * (g2 + mu * buf);
  EXPECT_NEAR(model.attr("w").toTensor().item<double>(), w2, 1e-6);
  // And plain momentum would have landed elsewhere.
  const double w2_plain = w1 - lr * buf;
  EXPECT_GT(std::abs(w2 - w2_plain), 1e-3);
}

TEST(TrainerTest, LearnsSeparableSetAndUsesTrainModeBatchNorm) {
  testing::ImageSet train_set = testing::MakeQuadrantImages(256, 4, 11);
  testing::ImageSet test_set = testing::MakeQuadrantImages(128, 4, 12);
  InMemoryBatchSource train(train_set.images, train_set.labels, 4, 16,
                            /*shuffle=*/true, 3);
  InMemoryBatchSource test(test_set.images, test_set.labels, 4, 32);
  torch::jit::Module model = testing::MakeConvBnNet(4, 5);

  // Before training: near chance.
  auto before = Evaluate(model, test);
  ASSERT_TRUE(before.ok()) << before.status();

  TrainerOptions options;
  options.epochs = 6;
  options.sgd.learning_rate = 0.05;
  options.num_threads = 1;
  std::vector<Progress> updates;
  options.progress = [&](const Progress& p) { updates.push_back(p); };
  auto trainer = Trainer::Create(&model, options);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  auto result = (*trainer)->Train(train, &test);
  ASSERT_TRUE(result.ok()) << result.status();

  ASSERT_EQ(result->epochs.size(), 6u);
  ASSERT_EQ(result->train_loss_history.size(), 6u);
  EXPECT_LT(result->train_loss_history.back(),
            0.5 * result->train_loss_history.front());
  EXPECT_GT(result->train_accuracy_history.back(),
            result->train_accuracy_history.front());
  ASSERT_TRUE(result->final_eval.has_value());
  EXPECT_GT(result->final_eval->top1_accuracy, 0.9);
  EXPECT_GT(result->final_eval->top1_accuracy, before->top1_accuracy + 0.3);
  EXPECT_LT(result->final_eval->mean_loss, before->mean_loss);
  EXPECT_EQ(result->global_step, 6 * 16);
  // BatchNorm ran in train mode: its running statistics moved.
  EXPECT_GT(model.attr("bn_var").toTensor().sub(1).abs().max().item<double>(),
            1e-3);

  // Progress: one train update per step, with sane fields.
  int train_updates = 0;
  for (const Progress& p : updates) {
    if (p.phase != Phase::kFinetune) continue;
    ++train_updates;
    EXPECT_EQ(p.steps_per_epoch, 16);
    EXPECT_EQ(p.num_epochs, 6);
    EXPECT_GE(p.accuracy, 0.0);
    EXPECT_LE(p.accuracy, 1.0);
    EXPECT_GT(p.images_per_second, 0.0);
    EXPECT_GE(p.eta_seconds, 0.0);
    EXPECT_GT(p.learning_rate, 0.0);
  }
  EXPECT_EQ(train_updates, 6 * 16);
  // The cosine schedule anneals: the first step runs at the base rate and
  // the last one close to eta_min.
  EXPECT_DOUBLE_EQ(updates.front().learning_rate, 0.05);
  EXPECT_EQ(updates.back().phase, Phase::kEvaluate);
  EXPECT_LT(result->epochs.back().last_learning_rate, 0.001);
}

TEST(TrainerTest, DistillationPullsStudentTowardsTeacher) {
  testing::ImageSet data = testing::MakeQuadrantImages(128, 4, 21);
  InMemoryBatchSource train(data.images, data.labels, 4, 16, true, 1);
  // Teacher: trained briefly on the labels.
  torch::jit::Module teacher = testing::MakeConvBnNet(4, 1);
  TrainerOptions teacher_options;
  teacher_options.epochs = 4;
  teacher_options.sgd.learning_rate = 0.05;
  auto teacher_trainer = Trainer::Create(&teacher, teacher_options);
  ASSERT_TRUE(teacher_trainer.ok());
  ASSERT_TRUE((*teacher_trainer)->Train(train).ok());
  teacher.eval();

  // Student trained with alpha = 1: only the teacher's soft targets count.
  torch::jit::Module student = testing::MakeConvBnNet(4, 2);
  auto kd_gap = [&]() {
    torch::NoGradGuard no_grad;
    student.eval();
    torch::Tensor s = student.forward({data.images}).toTensor();
    torch::Tensor t = teacher.forward({data.images}).toTensor();
    return torch::kl_div(torch::log_softmax(s, 1), torch::softmax(t, 1),
                         at::Reduction::Mean)
        .item<double>();
  };
  const double gap_before = kd_gap();
  TrainerOptions options;
  options.epochs = 4;
  options.sgd.learning_rate = 0.05;
  options.distillation.teacher = &teacher;
  options.distillation.alpha = 1.0;
  options.distillation.temperature = 2.0;
  auto trainer = Trainer::Create(&student, options);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  auto result = (*trainer)->Train(train);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_LT(kd_gap(), 0.5 * gap_before);
  // The teacher is never updated or switched to train mode.
  EXPECT_FALSE(teacher.is_training());
}

TEST(TrainerTest, CancellationStopsWithinOneStep) {
  testing::ImageSet data = testing::MakeQuadrantImages(64, 4, 2);
  InMemoryBatchSource train(data.images, data.labels, 4, 8);
  torch::jit::Module model = testing::MakeConvBnNet(4, 3);
  util::CancellationToken token;
  TrainerOptions options;
  options.epochs = 3;
  int steps_seen = 0;
  options.progress = [&](const Progress& p) {
    ++steps_seen;
    if (p.epoch == 1 && p.step == 3) token.Cancel();
  };
  auto trainer = Trainer::Create(&model, options);
  ASSERT_TRUE(trainer.ok());
  auto result = (*trainer)->Train(train, nullptr, &token);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  // 8 steps of epoch 0 and 3 of epoch 1; no batch fetched after Cancel().
  EXPECT_EQ(steps_seen, 8 + 3);
  EXPECT_EQ(train.batches_served(), 8 + 3);
  EXPECT_EQ((*trainer)->position().global_step, 8 + 3);
  EXPECT_EQ((*trainer)->position().epochs_completed, 1);
}

TEST(TrainerTest, ReportsBadBatchesAndModels) {
  torch::jit::Module no_params = testing::MakeIdentityClassifier();
  EXPECT_EQ(Trainer::Create(&no_params, TrainerOptions()).status().code(),
            absl::StatusCode::kInvalidArgument);
  torch::jit::Module model = testing::MakeConvBnNet(4, 3);
  TrainerOptions bad;
  bad.sgd.momentum = 0;  // Nesterov without momentum
  EXPECT_EQ(Trainer::Create(&model, bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Labels claim 3 classes but the model outputs 4.
  testing::ImageSet data = testing::MakeQuadrantImages(8, 3, 2);
  InMemoryBatchSource train(data.images, data.labels, 3, 4);
  TrainerOptions options;
  options.epochs = 1;
  auto trainer = Trainer::Create(&model, options);
  ASSERT_TRUE(trainer.ok());
  auto result = (*trainer)->Train(train);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("[4,3]"), std::string::npos)
      << result.status();
}

// Shared set-up for the checkpoint tests: a shuffled source and a model with
// dropout, so data order, RNG and BatchNorm buffers all have to be restored.
class TrainerCheckpointTest : public ::testing::Test {
 protected:
  TrainerCheckpointTest() : data_(testing::MakeQuadrantImages(96, 4, 9)) {}

  std::unique_ptr<InMemoryBatchSource> Source() const {
    return std::make_unique<InMemoryBatchSource>(data_.images, data_.labels, 4,
                                                 16, /*shuffle=*/true, 77);
  }

  TrainerOptions Options(int64_t epochs, const std::string& dir) const {
    TrainerOptions o;
    o.epochs = epochs;
    o.sgd.learning_rate = 0.05;
    o.seed = 1234;
    o.num_threads = 1;
    o.checkpoint_dir = dir;
    o.keep_checkpoints = 0;
    return o;
  }

  static std::vector<torch::Tensor> State(const torch::jit::Module& m) {
    std::vector<torch::Tensor> out;
    for (const auto& p : m.named_parameters()) out.push_back(p.value.clone());
    for (const auto& b : m.named_buffers()) out.push_back(b.value.clone());
    return out;
  }

  static double MaxDiff(const std::vector<torch::Tensor>& a,
                        const std::vector<torch::Tensor>& b) {
    EXPECT_EQ(a.size(), b.size());
    double d = 0;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      d = std::max(d, (a[i] - b[i]).abs().max().item<double>());
    }
    return d;
  }

  testing::ImageSet data_;
};

TEST_F(TrainerCheckpointTest, ResumeMatchesUninterruptedRun) {
  // Reference: two epochs straight.
  torch::jit::Module straight = testing::MakeConvBnNet(4, 5, 0.25);
  auto reference_source = Source();
  auto reference = Trainer::Create(&straight, Options(2, ""));
  ASSERT_TRUE(reference.ok());
  auto reference_result = (*reference)->Train(*reference_source);
  ASSERT_TRUE(reference_result.ok()) << reference_result.status();

  // Interrupted: same start, killed (cancelled) right after epoch 1's
  // checkpoint, then a brand-new trainer on a differently initialised model
  // resumes from the directory.
  pruneserve::testing::TempDir dir;
  torch::jit::Module first = testing::MakeConvBnNet(4, 5, 0.25);
  util::CancellationToken token;
  TrainerOptions first_options = Options(2, dir.path());
  first_options.progress = [&](const Progress& p) {
    if (p.epoch == 1 && p.step == 2) token.Cancel();
  };
  auto first_source = Source();
  auto first_trainer = Trainer::Create(&first, first_options);
  ASSERT_TRUE(first_trainer.ok());
  EXPECT_EQ(
      (*first_trainer)->Train(*first_source, nullptr, &token).status().code(),
      absl::StatusCode::kCancelled);

  torch::jit::Module resumed = testing::MakeConvBnNet(4, 99, 0.25);
  auto resumed_source = Source();
  auto resumed_trainer = Trainer::Create(&resumed, Options(2, dir.path()));
  ASSERT_TRUE(resumed_trainer.ok());
  auto resumed_result = (*resumed_trainer)->Train(*resumed_source);
  ASSERT_TRUE(resumed_result.ok()) << resumed_result.status();
  EXPECT_EQ(resumed_result->resumed_from_epoch, 1);
  EXPECT_EQ(resumed_result->resumed_from_path, dir.Join("ckpt-00000001.ckpt"));
  EXPECT_EQ(resumed_result->epochs.size(), 1u);
  EXPECT_EQ(resumed_result->global_step, reference_result->global_step);
  ASSERT_EQ(resumed_result->train_loss_history.size(), 2u);
  EXPECT_NEAR(resumed_result->train_loss_history[1],
              reference_result->train_loss_history[1], 1e-6);
  EXPECT_LT(MaxDiff(State(resumed), State(straight)), 1e-6);
  // Sanity: training did move the weights away from the initial ones.
  EXPECT_GT(MaxDiff(State(testing::MakeConvBnNet(4, 5, 0.25)), State(straight)),
            1e-3);
}

TEST_F(TrainerCheckpointTest, DamagedNewestCheckpointFallsBackToPrevious) {
  pruneserve::testing::TempDir dir;
  torch::jit::Module model = testing::MakeConvBnNet(4, 5);
  auto source = Source();
  auto trainer = Trainer::Create(&model, Options(2, dir.path()));
  ASSERT_TRUE(trainer.ok());
  ASSERT_TRUE((*trainer)->Train(*source).ok());

  // Corrupt one byte in the middle of the epoch-2 checkpoint.
  const std::string newest = dir.Join("ckpt-00000002.ckpt");
  {
    std::fstream f(newest, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good());
    f.seekg(0, std::ios::end);
    const std::streamoff mid = f.tellg() / 2;
    f.seekg(mid);
    char c = 0;
    f.read(&c, 1);
    c ^= 0x5a;
    f.seekp(mid);
    f.write(&c, 1);
  }
  torch::jit::Module fresh = testing::MakeConvBnNet(4, 6);
  auto restorer = Trainer::Create(&fresh, Options(2, dir.path()));
  ASSERT_TRUE(restorer.ok());
  auto position = (*restorer)->RestoreLatestCheckpoint();
  ASSERT_TRUE(position.ok()) << position.status();
  ASSERT_TRUE(position->has_value());
  EXPECT_EQ((*position)->epochs_completed, 1);
  EXPECT_EQ((*position)->global_step, 6);
  EXPECT_EQ((*position)->epoch_train_loss.size(), 1u);
}

TEST_F(TrainerCheckpointTest, CheckpointOfAnotherArchitectureIsRejected) {
  pruneserve::testing::TempDir dir;
  torch::jit::Module model = testing::MakeConvBnNet(4, 5);
  auto source = Source();
  auto trainer = Trainer::Create(&model, Options(1, dir.path()));
  ASSERT_TRUE(trainer.ok());
  ASSERT_TRUE((*trainer)->Train(*source).ok());

  torch::jit::Module other = testing::MakeConvBnNet(3, 5);  // 3 classes
  torch::Tensor fc_before = other.attr("fc_weight").toTensor().clone();
  auto restorer = Trainer::Create(&other, Options(1, dir.path()));
  ASSERT_TRUE(restorer.ok());
  auto position = (*restorer)->RestoreLatestCheckpoint();
  EXPECT_EQ(position.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(torch::equal(other.attr("fc_weight").toTensor(), fc_before));
}

}  // namespace
}  // namespace pruneserve::training
