#include "core/spec/job_state.h"

#include <gtest/gtest.h>

namespace pruneserve::spec {
namespace {

TEST(JobStateTest, NamesAreTheEnumWithoutItsPrefixInLowerCase) {
  EXPECT_EQ(JobStateName(v1::JOB_STATE_QUEUED), "queued");
  EXPECT_EQ(JobStateName(v1::JOB_STATE_RUNNING), "running");
  EXPECT_EQ(JobStateName(v1::JOB_STATE_SUCCEEDED), "succeeded");
  EXPECT_EQ(JobStateName(v1::JOB_STATE_FAILED), "failed");
  EXPECT_EQ(JobStateName(v1::JOB_STATE_CANCELLED), "cancelled");
}

TEST(JobStateTest, OnlySucceededFailedAndCancelledAreFinal) {
  for (int i = v1::JobState_MIN; i <= v1::JobState_MAX; ++i) {
    if (!v1::JobState_IsValid(i)) continue;
    const auto state = static_cast<v1::JobState>(i);
    const bool final = state == v1::JOB_STATE_SUCCEEDED ||
                       state == v1::JOB_STATE_FAILED ||
                       state == v1::JOB_STATE_CANCELLED;
    EXPECT_EQ(IsFinalJobState(state), final) << JobStateName(state);
  }
}

}  // namespace
}  // namespace pruneserve::spec
