// PlanThreadBudget: disjoint default shares, explicit counts kept.
#include "server/thread_budget.h"

#include <gtest/gtest.h>

namespace pruneserve {
namespace {

ThreadBudget Plan(int cores, int instances, int workers, int serving = 0,
                  int jobs = 0) {
  ThreadBudgetOptions o;
  o.cores = cores;
  o.serving_instances = instances;
  o.job_workers = workers;
  o.serving_threads = serving;
  o.job_threads = jobs;
  return PlanThreadBudget(o);
}

TEST(ThreadBudgetTest, DefaultsSplitTheCoresBetweenServingAndJobs) {
  ThreadBudget b = Plan(2, 1, 1);
  EXPECT_EQ(b.serving_threads, 1);
  EXPECT_EQ(b.job_threads, 1);
  EXPECT_FALSE(b.oversubscribed);

  b = Plan(8, 2, 1);
  EXPECT_EQ(b.serving_threads, 2);
  EXPECT_EQ(b.job_threads, 4);
  EXPECT_FALSE(b.oversubscribed);

  b = Plan(7, 1, 2);  // jobs 3 (1 each, rounded down), serving 4
  EXPECT_EQ(b.serving_threads, 4);
  EXPECT_EQ(b.job_threads, 1);
  EXPECT_FALSE(b.oversubscribed);
}

TEST(ThreadBudgetTest, EveryThreadGetsAtLeastOne) {
  ThreadBudget b = Plan(1, 4, 3);
  EXPECT_EQ(b.serving_threads, 1);
  EXPECT_EQ(b.job_threads, 1);
  EXPECT_TRUE(b.oversubscribed);
  EXPECT_EQ(Plan(2, 0, -1).serving_threads, 1);
}

TEST(ThreadBudgetTest, ExplicitCountsAreKept) {
  ThreadBudget b = Plan(2, 1, 1, /*serving=*/2, /*jobs=*/2);
  EXPECT_EQ(b.serving_threads, 2);
  EXPECT_EQ(b.job_threads, 2);
  EXPECT_TRUE(b.oversubscribed);
  b = Plan(16, 2, 2, /*serving=*/0, /*jobs=*/3);
  EXPECT_EQ(b.serving_threads, 4);
  EXPECT_EQ(b.job_threads, 3);
}

TEST(ThreadBudgetTest, DescribesItself) {
  ThreadBudgetOptions o;
  o.cores = 2;
  EXPECT_EQ(PlanThreadBudget(o).Describe(o),
            "LibTorch intra-op threads: 1 per serving instance (1 instance), "
            "1 per job worker (1 worker), 2 cores");
  o.job_threads = 2;
  EXPECT_EQ(PlanThreadBudget(o).Describe(o),
            "LibTorch intra-op threads: 1 per serving instance (1 instance), "
            "2 per job worker (1 worker), 2 cores; more threads than cores");
}

TEST(ThreadBudgetTest, ZeroCoresMeansTheMachine) {
  ThreadBudgetOptions o;
  EXPECT_GE(PlanThreadBudget(o).cores, 1);
}

}  // namespace
}  // namespace pruneserve
