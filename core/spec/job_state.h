// Names of job states as users see them ("queued", "running", ...), shared
// by the metrics labels, error messages and prunectl.
#ifndef PRUNESERVE_CORE_SPEC_JOB_STATE_H_
#define PRUNESERVE_CORE_SPEC_JOB_STATE_H_

#include <string>

#include "pruneserve/v1/pruning_jobs.pb.h"

namespace pruneserve::spec {

// The enum name without "JOB_STATE_", lower-case: "queued", "succeeded", ...
std::string JobStateName(v1::JobState state);

// True for SUCCEEDED, FAILED and CANCELLED.
bool IsFinalJobState(v1::JobState state);

}  // namespace pruneserve::spec

#endif  // PRUNESERVE_CORE_SPEC_JOB_STATE_H_
