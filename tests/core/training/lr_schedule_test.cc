// Learning-rate schedules against values computed by hand (and matching
// torch.optim.lr_scheduler.CosineAnnealingWarmRestarts stepped with the same
// fractional epochs).
#include "core/training/lr_schedule.h"

#include <gtest/gtest.h>

namespace pruneserve::training {
namespace {

constexpr double kTol = 1e-12;

TEST(CosineWarmRestartsScheduleTest, ValuesInsideFirstCycle) {
  auto s = CosineWarmRestartsSchedule::Create(0.01, 10, 1, 1e-5);
  ASSERT_TRUE(s.ok()) << s.status();
  // eta_min + (lr - eta_min) * (1 + cos(pi * t / 10)) / 2.
  EXPECT_NEAR((*s)->LearningRate(0), 0.01, kTol);
  // cos(pi/4) = 0.70710678...: 1e-5 + 0.00999 * 0.85355339 = 0.0085369983...
  EXPECT_NEAR((*s)->LearningRate(2.5), 0.008536998372026804, kTol);
  // cos(pi/2) = 0: the midpoint (lr + eta_min) / 2.
  EXPECT_NEAR((*s)->LearningRate(5), 0.005005, kTol);
  // Almost at the end of the cycle: just above eta_min.
  EXPECT_NEAR((*s)->LearningRate(9.99), 1.0024649316718226e-05, kTol);
}

TEST(CosineWarmRestartsScheduleTest, RestartsWithTMultOne) {
  auto s = CosineWarmRestartsSchedule::Create(0.01, 10, 1, 1e-5);
  ASSERT_TRUE(s.ok());
  EXPECT_NEAR((*s)->LearningRate(10), 0.01, kTol);  // warm restart
  EXPECT_NEAR((*s)->LearningRate(15), 0.005005, kTol);
  EXPECT_NEAR((*s)->LearningRate(12.5), 0.008536998372026804, kTol);
}

TEST(CosineWarmRestartsScheduleTest, RestartsWithTMultTwo) {
  // Cycles: [0, 10), [10, 30), [30, 70).
  auto s = CosineWarmRestartsSchedule::Create(0.01, 10, 2, 1e-5);
  ASSERT_TRUE(s.ok());
  EXPECT_NEAR((*s)->LearningRate(10), 0.01, kTol);
  // T_cur = 2.5 of T_i = 20: cos(pi/8) = 0.92387953 -> 0.0096197782...
  EXPECT_NEAR((*s)->LearningRate(12.5), 0.009619778264893877, kTol);
  EXPECT_NEAR((*s)->LearningRate(20), 0.005005, kTol);  // mid second cycle
  EXPECT_NEAR((*s)->LearningRate(30), 0.01, kTol);      // second restart
  // T_cur = 10 of T_i = 40 is the same phase as 2.5 of 10.
  EXPECT_NEAR((*s)->LearningRate(40), 0.008536998372026804, kTol);
}

TEST(CosineWarmRestartsScheduleTest, RejectsBadArguments) {
  EXPECT_FALSE(CosineWarmRestartsSchedule::Create(0.01, 0, 1, 1e-5).ok());
  EXPECT_FALSE(CosineWarmRestartsSchedule::Create(0.01, 10, 0, 1e-5).ok());
  EXPECT_FALSE(CosineWarmRestartsSchedule::Create(1e-6, 10, 1, 1e-5).ok());
}

TEST(StepDecayScheduleTest, DecaysAtEpochBoundaries) {
  auto s = StepDecaySchedule::Create(0.1, 3, 0.1);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_NEAR((*s)->LearningRate(0), 0.1, kTol);
  EXPECT_NEAR((*s)->LearningRate(2.99), 0.1, kTol);
  EXPECT_NEAR((*s)->LearningRate(3), 0.01, kTol);
  EXPECT_NEAR((*s)->LearningRate(5.5), 0.01, kTol);
  EXPECT_NEAR((*s)->LearningRate(6.5), 0.001, kTol);
  EXPECT_FALSE(StepDecaySchedule::Create(0.1, 0, 0.1).ok());
}

TEST(MakeLrScheduleTest, DefaultIsPaperCosineWithT0EqualToEpochs) {
  LrScheduleOptions options;  // defaults
  auto s = MakeLrSchedule(options, 0.01, 50);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_NEAR((*s)->LearningRate(0), 0.01, kTol);
  EXPECT_NEAR((*s)->LearningRate(25), 0.005005, kTol);
  EXPECT_NEAR((*s)->LearningRate(50), 0.01, kTol);  // would restart after
  EXPECT_EQ((*s)->Describe(),
            "cosine_warm_restarts(lr=0.01, T_0=50, T_mult=1, eta_min=1e-05)");
}

TEST(MakeLrScheduleTest, StepAndConstant) {
  LrScheduleOptions options;
  options.kind = LrScheduleOptions::Kind::kStepDecay;
  options.step_epochs = 2;
  options.gamma = 0.5;
  auto step = MakeLrSchedule(options, 0.08, 10);
  ASSERT_TRUE(step.ok());
  EXPECT_NEAR((*step)->LearningRate(4.5), 0.02, kTol);
  options.kind = LrScheduleOptions::Kind::kConstant;
  auto constant = MakeLrSchedule(options, 0.08, 10);
  ASSERT_TRUE(constant.ok());
  EXPECT_NEAR((*constant)->LearningRate(7.3), 0.08, kTol);
}

}  // namespace
}  // namespace pruneserve::training
