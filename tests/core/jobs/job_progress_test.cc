// The wire form of core progress: both phase fields, every number.
#include "core/jobs/job_progress.h"

#include <cctype>
#include <string>

#include "gtest/gtest.h"

namespace pruneserve::jobs {
namespace {

TEST(JobProgressTest, EveryPhaseHasAWireEnumAndTheNameUsersSee) {
  for (Phase phase :
       {Phase::kQueued, Phase::kStart, Phase::kPrune, Phase::kFinetune,
        Phase::kEvaluate, Phase::kQuantize, Phase::kRegister, Phase::kExport,
        Phase::kCompile, Phase::kDone}) {
    v1::JobProgress p;
    SetJobPhase(phase, p);
    EXPECT_NE(p.phase_kind(), v1::JOB_PHASE_UNSPECIFIED) << PhaseName(phase);
    // The wire enum's suffix is the name, e.g. JOB_PHASE_FINETUNE.
    std::string suffix = v1::JobPhase_Name(p.phase_kind()).substr(10);
    for (char& c : suffix) c = static_cast<char>(std::tolower(c));
    EXPECT_EQ(p.phase(), suffix);
    EXPECT_EQ(*ParsePhase(p.phase()), phase);
  }
  EXPECT_FALSE(ParsePhase("train").ok());
}

TEST(JobProgressTest, CopiesEveryField) {
  Progress p;
  p.phase = Phase::kFinetune;
  p.round = 1;
  p.num_rounds = 3;
  p.epoch = 2;
  p.num_epochs = 5;
  p.step = 7;
  p.steps_per_epoch = 9;
  p.loss = 0.5;
  p.accuracy = 0.75;
  p.images_per_second = 100.0;
  p.eta_seconds = 12.0;
  p.params = 1000;
  p.flops = 2000;
  p.fraction_done = 0.4;
  p.last_top1_accuracy = 0.8;
  const v1::JobProgress w = ToJobProgress(p);
  EXPECT_EQ(w.phase(), "finetune");
  EXPECT_EQ(w.phase_kind(), v1::JOB_PHASE_FINETUNE);
  EXPECT_EQ(w.round(), 1);
  EXPECT_EQ(w.num_rounds(), 3);
  EXPECT_EQ(w.epoch(), 2);
  EXPECT_EQ(w.num_epochs(), 5);
  EXPECT_EQ(w.step(), 7);
  EXPECT_EQ(w.steps_per_epoch(), 9);
  EXPECT_DOUBLE_EQ(w.loss(), 0.5);
  EXPECT_DOUBLE_EQ(w.accuracy(), 0.75);
  EXPECT_DOUBLE_EQ(w.images_per_second(), 100.0);
  EXPECT_DOUBLE_EQ(w.eta_seconds(), 12.0);
  EXPECT_EQ(w.params(), 1000);
  EXPECT_EQ(w.flops(), 2000);
  EXPECT_DOUBLE_EQ(w.fraction_done(), 0.4);
  EXPECT_DOUBLE_EQ(w.last_top1_accuracy(), 0.8);
}

}  // namespace
}  // namespace pruneserve::jobs
