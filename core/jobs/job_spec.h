// Up-front validation of a pruning job's spec. Everything that can be known
// before a worker touches the model is checked here — policy and criterion
// names, ranges, data-set specs and their directories, the input shape, the
// result name — so a bad spec is refused with INVALID_ARGUMENT naming the
// field instead of failing minutes later on a worker. Zero fields are
// replaced by their documented defaults, so the stored spec says exactly
// what ran.
#ifndef PRUNESERVE_CORE_JOBS_JOB_SPEC_H_
#define PRUNESERVE_CORE_JOBS_JOB_SPEC_H_

#include "absl/status/statusor.h"
#include "pruneserve/v1/model.pb.h"
#include "pruneserve/v1/pruning_jobs.pb.h"

namespace pruneserve::jobs {

// Returns `spec` with defaults filled in for the model `model` (the version
// the spec names, already looked up): the input shape falls back to the
// model's example input shape, the policy to "refined", and so on (see
// pruning_jobs.proto). INVALID_ARGUMENT naming the first bad field; the
// model must be TorchScript. Reads only the file system's directory entries
// of the data sets; never blocks for long.
absl::StatusOr<v1::JobSpec> ResolveJobSpec(v1::JobSpec spec,
                                           const v1::ModelVersion& model);

}  // namespace pruneserve::jobs

#endif  // PRUNESERVE_CORE_JOBS_JOB_SPEC_H_
