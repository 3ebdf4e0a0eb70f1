// Running a resolved pruneserve.v1.JobSpec: the prune -> fine-tune ->
// evaluate rounds, then the optional quantize stage, the register stage,
// and the optional export and compile stages. A server worker
// (PipelineJobExecutor) and `prunectl prune --local` both call RunSpec, so
// a spec runs the same way in both; what differs between them — where
// progress goes, how cancellation is asked for, and what "register" means
// (a new repository version, or a file written) — comes in through
// SpecRunHooks.
//
//   PS_ASSIGN_OR_RETURN(torch::jit::Module model,
//                       LoadScriptModule(path, "loading model.pt"));
//   PS_ASSIGN_OR_RETURN(JobDataSources data, OpenJobData(spec));
//   SpecRunHooks hooks;
//   hooks.register_model = [&](const torch::jit::Module& m,
//                              const v1::PipelineReport&) { ... };
//   PS_ASSIGN_OR_RETURN(JobOutcome outcome,
//                       RunSpec(spec, model, data, hooks));
#ifndef PRUNESERVE_CORE_JOBS_SPEC_RUNNER_H_
#define PRUNESERVE_CORE_JOBS_SPEC_RUNNER_H_

#include <torch/script.h>

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/jobs/job_executor.h"
#include "core/jobs/job_pipeline.h"
#include "core/util/cancellation_token.h"
#include "core/util/progress.h"
#include "pruneserve/v1/pipeline.pb.h"
#include "pruneserve/v1/pruning_jobs.pb.h"

namespace pruneserve::vitis {
class ExternalCompiler;
}  // namespace pruneserve::vitis

namespace pruneserve::jobs {

// Where the register stage put a model.
struct RegisteredModel {
  // Repository name (or, for a file, its path).
  std::string name;
  // Repository version; 0 for a file.
  int64_t version = 0;
};

// Everything about a run that is the caller's, not the spec's. Not owned
// pointers must outlive RunSpec(). The callbacks run on RunSpec's thread.
struct SpecRunHooks {
  // Every progress event: per step in the rounds (with the model size,
  // latest accuracy and whole-run completion filled in), and once at the
  // start of each later stage. May be empty; must be quick.
  ProgressCallback progress;
  // Polled at every step; the run returns CANCELLED soon after it fires.
  // May be null.
  const util::CancellationToken* cancel = nullptr;
  // LibTorch intra-op threads for fine-tuning and evaluation, set on the
  // calling thread; 0 leaves its setting alone.
  int intra_op_threads = 0;
  // Per-round fine-tuning checkpoints go under this directory; a rerun with
  // the same directory resumes where the last completed epoch ended. Empty
  // disables checkpointing.
  std::string checkpoint_dir;
  // The export stage writes here (it must not exist, or be empty). Empty
  // makes a spec with the export stage fail with FAILED_PRECONDITION.
  std::string export_dir;
  // Runs the compile stage; may be null (the stage then records
  // FAILED_PRECONDITION in JobOutcome::compile_status).
  const vitis::ExternalCompiler* compiler = nullptr;
  // The register stage: stores the pruned module with the run's report and
  // says where. Required. Its error fails the run.
  std::function<absl::StatusOr<RegisteredModel>(
      const torch::jit::Module& module, const v1::PipelineReport& report)>
      register_model;
  // The compile stage's storing step: registers the xmodel file at
  // `xmodel_path`, built from `parent` (the register stage's result).
  // Required when the spec compiles. Its error is recorded in
  // JobOutcome::compile_status; the run still succeeds.
  std::function<absl::StatusOr<RegisteredModel>(
      const std::string& xmodel_path, const RegisteredModel& parent,
      const v1::PipelineReport& report)>
      register_xmodel;
};

// Runs `spec` (accepted by ResolveJobSpec) on `model` with `data` (opened
// by OpenJobData for the same spec). The caller's model is not modified.
// Blocks for the whole run; CPU-bound.
//
// Returns the registered result, report and stage outcomes. Errors:
// CANCELLED when hooks.cancel fired, the pipeline's (FAILED_PRECONDITION
// for missing data, the engine's and trainer's errors), the quantizer's and
// exporter's, FAILED_PRECONDITION when the spec exports but
// hooks.export_dir is empty, and register_model's. A failed compile does
// not fail the run (see JobOutcome::compile_status), except CANCELLED.
absl::StatusOr<JobOutcome> RunSpec(const v1::JobSpec& spec,
                                   const torch::jit::Module& model,
                                   const JobDataSources& data,
                                   const SpecRunHooks& hooks);

// Loads the TorchScript archive at `path` in eval mode. A LibTorch error
// becomes a `code` status whose message starts with `what` (e.g. "loading
// vgg:3"). Blocks on file I/O.
absl::StatusOr<torch::jit::Module> LoadScriptModule(
    const std::string& path, absl::string_view what,
    absl::StatusCode code = absl::StatusCode::kInvalidArgument);

// Saves `module` to `path`; INTERNAL naming the path when LibTorch cannot.
// Blocks on file I/O.
absl::Status SaveScriptModule(const torch::jit::Module& module,
                              const std::string& path);

}  // namespace pruneserve::jobs

#endif  // PRUNESERVE_CORE_JOBS_SPEC_RUNNER_H_
