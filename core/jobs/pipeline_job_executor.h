// The production JobExecutor: loads the job's model from the repository,
// opens its data sets, runs the prune -> fine-tune PruningPipeline with the
// job's options (checkpointing into the job's work directory, so a re-run
// after a crash resumes fine-tuning where the last epoch ended) and
// registers the result as a new model version with lineage and the
// pipeline report.
#ifndef PRUNESERVE_CORE_JOBS_PIPELINE_JOB_EXECUTOR_H_
#define PRUNESERVE_CORE_JOBS_PIPELINE_JOB_EXECUTOR_H_

#include "core/jobs/job_executor.h"
#include "core/repository/model_repository.h"

namespace pruneserve::jobs {

struct PipelineJobExecutorOptions {
  // Background decoding threads of each data loader.
  int loader_threads = 1;
  // Batch size of evaluation passes.
  int64_t eval_batch_size = 256;
  // Batch size of sparsity-probe passes.
  int64_t calibration_batch_size = 64;
};

// Thread-safe: holds only options and the repository (itself thread-safe),
// which must outlive it. Each Execute() works on its own objects.
class PipelineJobExecutor : public JobExecutor {
 public:
  PipelineJobExecutor(ModelRepository* repository,
                      PipelineJobExecutorOptions options = {});

  // Errors: NOT_FOUND when the model version is gone, the loaders' errors
  // for data (NOT_FOUND, DATA_LOSS), the pipeline's, CANCELLED, and the
  // repository's when the result cannot be stored.
  absl::StatusOr<JobOutcome> Execute(const JobContext& context) override;

 private:
  ModelRepository* const repository_;
  const PipelineJobExecutorOptions options_;
};

}  // namespace pruneserve::jobs

#endif  // PRUNESERVE_CORE_JOBS_PIPELINE_JOB_EXECUTOR_H_
