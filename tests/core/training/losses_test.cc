// Loss values checked against hand computation (and torch.nn.functional in
// Python for the same inputs).
#include "core/training/losses.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace pruneserve::training {
namespace {

TEST(CrossEntropyLossTest, PlainAndSmoothedValues) {
  torch::Tensor logits = torch::tensor({{1.0f, 2.0f, 3.0f}});
  torch::Tensor labels = torch::tensor({2}, torch::kLong);
  // log-sum-exp(1, 2, 3) = 3.40760596; -log p = (2.4076, 1.4076, 0.4076).
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  auto plain = CrossEntropyLoss(logits, labels);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_NEAR(plain->item<double>(), lse - 3.0, 1e-6);
  // 0.9 * 0.4076 + 0.1 * mean(2.4076, 1.4076, 0.4076) = 0.50760596.
  auto smoothed = CrossEntropyLoss(logits, labels, 0.1);
  ASSERT_TRUE(smoothed.ok()) << smoothed.status();
  EXPECT_NEAR(smoothed->item<double>(), 0.9 * (lse - 3.0) + 0.1 * (lse - 2.0),
              1e-6);
  EXPECT_NEAR(smoothed->item<double>(), 0.5076059103, 1e-6);
}

TEST(CrossEntropyLossTest, MeansOverBatchAndIsDifferentiable) {
  torch::Tensor logits =
      torch::tensor({{0.0f, 0.0f}, {2.0f, 0.0f}}).requires_grad_(true);
  torch::Tensor labels = torch::tensor({0, 1}, torch::kLong);
  auto loss = CrossEntropyLoss(logits, labels);
  ASSERT_TRUE(loss.ok());
  const double expected =
      (std::log(2.0) + (std::log(std::exp(2.0) + 1.0) - 0.0)) / 2;
  EXPECT_NEAR(loss->item<double>(), expected, 1e-6);
  loss->backward();
  // d/dz of row 0 = (softmax - onehot) / 2 = (0.5 - 1, 0.5) / 2.
  EXPECT_NEAR(logits.grad()[0][0].item<double>(), -0.25, 1e-6);
  EXPECT_NEAR(logits.grad()[0][1].item<double>(), 0.25, 1e-6);
}

TEST(CrossEntropyLossTest, RejectsBadInput) {
  torch::Tensor logits = torch::zeros({2, 3});
  EXPECT_EQ(CrossEntropyLoss(logits, torch::tensor({0, 3}, torch::kLong))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CrossEntropyLoss(logits, torch::tensor({0}, torch::kLong))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CrossEntropyLoss(logits, torch::tensor({0, 1}, torch::kLong), 1.0)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DistillationLossTest, KlOfSoftenedDistributionsTimesTSquared) {
  // Teacher logits / T = (ln 3, 0) -> p = (0.75, 0.25); student -> (0.5, 0.5).
  // KL = 0.75 ln 1.5 + 0.25 ln 0.5 = 0.13081204; times T^2 = 4.
  const double t = 2.0;
  torch::Tensor teacher =
      torch::tensor({{static_cast<float>(2 * std::log(3.0)), 0.0f},
                     {static_cast<float>(2 * std::log(3.0)), 0.0f}});
  torch::Tensor student = torch::zeros({2, 2});
  auto kd = DistillationLoss(student, teacher, t);
  ASSERT_TRUE(kd.ok()) << kd.status();
  const double kl = 0.75 * std::log(1.5) + 0.25 * std::log(0.5);
  EXPECT_NEAR(kd->item<double>(), kl * t * t, 1e-6);
  EXPECT_NEAR(kd->item<double>(), 0.5232485533, 1e-6);
}

TEST(DistillationLossTest, ZeroWhenStudentMatchesTeacher) {
  torch::Tensor logits = torch::tensor({{0.3f, -1.0f, 2.0f}});
  auto kd = DistillationLoss(logits, logits, 4.0);
  ASSERT_TRUE(kd.ok());
  EXPECT_NEAR(kd->item<double>(), 0.0, 1e-7);
  EXPECT_FALSE(DistillationLoss(logits, logits, 0.0).ok());
  EXPECT_FALSE(DistillationLoss(logits, torch::zeros({1, 2}), 1.0).ok());
}

}  // namespace
}  // namespace pruneserve::training
