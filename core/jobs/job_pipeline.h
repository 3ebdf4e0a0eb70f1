// From a resolved pruneserve.v1.JobSpec to a runnable pipeline: the data
// sources it names and the PipelineOptions it stands for. The job executor
// and `prunectl prune --local` both go through here, so a spec means the
// same thing whether a server worker or the command line runs it.
#ifndef PRUNESERVE_CORE_JOBS_JOB_PIPELINE_H_
#define PRUNESERVE_CORE_JOBS_JOB_PIPELINE_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "core/data/batch_source.h"
#include "core/pipeline/pruning_pipeline.h"
#include "pruneserve/v1/pruning_jobs.pb.h"

namespace pruneserve::jobs {

struct JobDataOptions {
  // Background decoding threads per data loader.
  int loader_threads = 1;
  // Batch size of the evaluation and calibration passes (fine-tuning uses
  // the spec's finetune.batch_size).
  int64_t eval_batch_size = 256;
  int64_t calibration_batch_size = 64;
};

// The opened data sets of one spec; a null member is a data set the spec
// does not name. Owns the loaders; move-only.
struct JobDataSources {
  std::unique_ptr<data::BatchSource> train;
  std::unique_ptr<data::BatchSource> eval;
  std::unique_ptr<data::BatchSource> calibration;

  // Non-owning view for PruningPipeline::Run; valid while this lives.
  pipeline::PipelineData View() const {
    return {train.get(), eval.get(), calibration.get()};
  }
};

// Opens the train (shuffled, augmented when asked, seeded by spec.seed),
// eval and calibration data of `spec`, which ResolveJobSpec has accepted.
// Returns the loader's error (NOT_FOUND, DATA_LOSS, INVALID_ARGUMENT naming
// the file) when a data set cannot be read. Reads the data sets' headers;
// decoding happens later on the loaders' threads.
absl::StatusOr<JobDataSources> OpenJobData(const v1::JobSpec& spec,
                                           const JobDataOptions& options = {});

// The pipeline options `spec` stands for, fine-tuning with
// `intra_op_threads` LibTorch threads (0 leaves the setting alone).
// No progress callback, checkpoint directory or teacher is set; callers add
// their own. INVALID_ARGUMENT for an unknown refined rule (ResolveJobSpec
// has normally caught it). Never blocks.
absl::StatusOr<pipeline::PipelineOptions> PipelineOptionsFromSpec(
    const v1::JobSpec& spec, int intra_op_threads = 0);

}  // namespace pruneserve::jobs

#endif  // PRUNESERVE_CORE_JOBS_JOB_PIPELINE_H_
