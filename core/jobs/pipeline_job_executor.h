// The production JobExecutor: loads the job's model from the repository,
// opens its data sets and hands both to RunSpec (spec_runner.h), which runs
// the stages. What is the server's comes in through the hooks: progress goes
// to the job manager as pruneserve.v1.JobProgress, fine-tuning checkpoints
// go to the job's work directory (so a re-run after a crash resumes where
// the last epoch ended), the export directory is <export_root>/<job id>,
// and "register" means a new model version with lineage and the pipeline
// report (and, after the compile stage, an xmodel version built from it).
#ifndef PRUNESERVE_CORE_JOBS_PIPELINE_JOB_EXECUTOR_H_
#define PRUNESERVE_CORE_JOBS_PIPELINE_JOB_EXECUTOR_H_

#include "core/export/external_compiler.h"
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
  // Parent of export directories (<export_root>/<job id>); required by jobs
  // with the export stage.
  std::string export_root;
  // Runs the Vitis AI toolchain for the compile stage; not owned, may be
  // null (the stage then fails with FAILED_PRECONDITION).
  const vitis::ExternalCompiler* compiler = nullptr;
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
