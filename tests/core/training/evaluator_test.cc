// Evaluation numbers on a fixed model whose logits are the input itself, so
// every top-1/top-5 hit and the loss can be worked out by hand; plus the
// train/eval mode handling of BatchNorm.
#include "core/training/evaluator.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "tests/core/training/quadrant_images.h"
#include "tests/testing/in_memory_batch_source.h"
#include "tests/core/training/test_models.h"

namespace pruneserve::training {
namespace {

using pruneserve::testing::InMemoryBatchSource;

// Four examples over six classes; each row of logits is a permutation of
// 0..5, so -log p(label) = LSE(0..5) - logit(label).
struct FixedLogits {
  torch::Tensor images;  // [4, 1, 1, 6]
  torch::Tensor labels;  // [4]
  std::vector<double> label_logits;
};

FixedLogits MakeFixedLogits() {
  FixedLogits f;
  f.images = torch::tensor({{0.f, 1.f, 2.f, 3.f, 4.f, 5.f},
                            {5.f, 4.f, 3.f, 2.f, 1.f, 0.f},
                            {1.f, 0.f, 5.f, 4.f, 3.f, 2.f},
                            {2.f, 3.f, 4.f, 5.f, 0.f, 1.f}})
                 .reshape({4, 1, 1, 6});
  // Row 0: label 5 has the largest logit        -> top-1 and top-5 hit.
  // Row 1: label 2 has the 3rd largest (3)      -> top-5 hit only.
  // Row 2: label 1 has the smallest (0)         -> miss in both.
  // Row 3: label 2 has the 2nd largest (4)      -> top-5 hit only.
  f.labels = torch::tensor({5, 2, 1, 2}, torch::kLong);
  f.label_logits = {5, 3, 0, 4};
  return f;
}

TEST(EvaluatorTest, TopOneTopFiveAndMeanLossByHand) {
  FixedLogits f = MakeFixedLogits();
  // Batch size 3: two batches (3 + 1) must be aggregated per example.
  InMemoryBatchSource source(f.images, f.labels, 6, 3);
  torch::jit::Module model = testing::MakeIdentityClassifier();
  auto result = Evaluate(model, source);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->num_examples, 4);
  EXPECT_DOUBLE_EQ(result->top1_accuracy, 0.25);
  EXPECT_DOUBLE_EQ(result->topk_accuracy, 0.75);
  EXPECT_EQ(result->top_k, 5);
  double lse = 0;
  for (int k = 0; k < 6; ++k) lse += std::exp(static_cast<double>(k));
  lse = std::log(lse);
  double expected = 0;
  for (double v : f.label_logits) expected += lse - v;
  EXPECT_NEAR(result->mean_loss, expected / 4, 1e-5);
}

TEST(EvaluatorTest, TopKLargerThanClassCountCountsEverything) {
  FixedLogits f = MakeFixedLogits();
  InMemoryBatchSource source(f.images, f.labels, 6, 4);
  torch::jit::Module model = testing::MakeIdentityClassifier();
  EvalOptions options;
  options.top_k = 10;
  auto result = Evaluate(model, source, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_DOUBLE_EQ(result->topk_accuracy, 1.0);
}

TEST(EvaluatorTest, RejectsWrongClassCountAndHonoursCancellation) {
  FixedLogits f = MakeFixedLogits();
  torch::jit::Module model = testing::MakeIdentityClassifier();
  InMemoryBatchSource seven_classes(f.images, f.labels, 7, 4);
  EXPECT_EQ(Evaluate(model, seven_classes).status().code(),
            absl::StatusCode::kInvalidArgument);

  InMemoryBatchSource source(f.images, f.labels, 6, 1);
  util::CancellationToken token;
  EvalOptions options;
  options.cancel = &token;
  int updates = 0;
  options.progress = [&](const Progress& p) {
    EXPECT_EQ(p.phase, Phase::kEvaluate);
    EXPECT_EQ(p.steps_per_epoch, 4);
    if (++updates == 2) token.Cancel();
  };
  EXPECT_EQ(Evaluate(model, source, options).status().code(),
            absl::StatusCode::kCancelled);
  EXPECT_EQ(updates, 2);
  EXPECT_EQ(source.batches_served(), 2);
}

TEST(EvaluatorTest, UsesRunningStatisticsAndRestoresMode) {
  testing::ImageSet data = testing::MakeQuadrantImages(16, 4, 1);
  InMemoryBatchSource source(data.images, data.labels, 4, 8);
  torch::jit::Module model = testing::MakeConvBnNet(4, 7);
  model.train();
  torch::Tensor mean_before = model.attr("bn_mean").toTensor().clone();
  auto result = Evaluate(model, source);
  ASSERT_TRUE(result.ok()) << result.status();
  // Eval mode: running statistics untouched, and the mode comes back.
  EXPECT_TRUE(torch::equal(model.attr("bn_mean").toTensor(), mean_before));
  EXPECT_TRUE(model.is_training());
}

}  // namespace
}  // namespace pruneserve::training
