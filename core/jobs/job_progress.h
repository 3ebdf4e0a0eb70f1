// The one translation of core progress (core/util/progress.h) into the
// wire's pruneserve.v1.JobProgress, which the job manager stores and
// streams. Both the phase enum and its name are set, so clients that read
// either keep working.
#ifndef PRUNESERVE_CORE_JOBS_JOB_PROGRESS_H_
#define PRUNESERVE_CORE_JOBS_JOB_PROGRESS_H_

#include "core/util/progress.h"
#include "pruneserve/v1/pruning_jobs.pb.h"

namespace pruneserve::jobs {

// The wire enum of `phase`.
v1::JobPhase ToJobPhase(Phase phase);

// Sets `progress`'s phase_kind and phase name to `phase`.
void SetJobPhase(Phase phase, v1::JobProgress& progress);

// `progress` as the wire message. Never fails.
v1::JobProgress ToJobProgress(const Progress& progress);

}  // namespace pruneserve::jobs

#endif  // PRUNESERVE_CORE_JOBS_JOB_PROGRESS_H_
