// The seam between job scheduling and job work. The JobManager decides when
// a job runs and records what happens; a JobExecutor does the work of one
// job (load the model, run the prune -> fine-tune pipeline, register the
// result). Production uses PipelineJobExecutor; scheduling tests use a fake.
#ifndef PRUNESERVE_CORE_JOBS_JOB_EXECUTOR_H_
#define PRUNESERVE_CORE_JOBS_JOB_EXECUTOR_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "core/util/cancellation_token.h"
#include "pruneserve/v1/pipeline.pb.h"
#include "pruneserve/v1/pruning_jobs.pb.h"

namespace pruneserve::jobs {

// What one execution of a job gets. Everything is owned by the caller and
// outlives Execute().
struct JobContext {
  // The job as stored (id, resolved spec, attempts so far).
  const v1::Job* job = nullptr;
  // Directory reserved for this job (checkpoints, the result before it is
  // registered). It survives restarts, so a re-run finds its checkpoints;
  // the manager deletes it when the job ends.
  std::string work_dir;
  // LibTorch intra-op threads for this job.
  int intra_op_threads = 1;
  // Polled at every step; the executor returns CANCELLED soon after it
  // fires.
  const util::CancellationToken* cancel = nullptr;
  // Called on the executor's thread with every progress update; quick.
  std::function<void(const v1::JobProgress&)> progress;
};

// The registered result of a successful job.
struct JobOutcome {
  std::string model_name;
  int64_t model_version = 0;
  v1::PipelineReport report;
  // Export stage: the directory written (empty when the stage was off).
  std::string export_dir;
  // Compile stage: the registered xmodel (empty name when none), or why
  // there is none (OK when the stage was off or succeeded).
  std::string xmodel_name;
  int64_t xmodel_version = 0;
  absl::Status compile_status;
};

class JobExecutor {
 public:
  virtual ~JobExecutor() = default;

  // Runs one job to completion. Blocks (minutes to hours). Returns CANCELLED
  // when the token fired, otherwise the error that stopped the job. Must be
  // safe to call from several worker threads at once for different jobs.
  virtual absl::StatusOr<JobOutcome> Execute(const JobContext& context) = 0;
};

}  // namespace pruneserve::jobs

#endif  // PRUNESERVE_CORE_JOBS_JOB_EXECUTOR_H_
