// The spec layer: up-front validation of a pruning job's spec and the one
// place its defaults live. Everything that can be known before a worker
// touches the model is checked here — policy and criterion names, ranges,
// data-set specs and their directories, the input shape, the result name —
// so a bad spec is refused with INVALID_ARGUMENT naming the field instead of
// failing minutes later on a worker. Zero fields are replaced by defaults
// taken from the core Options structs' initialisers (spec::JobSpecDefaults()
// in core/spec/job_spec_defaults.h, torch-free so that prunectl prints them),
// so the stored spec says exactly what ran, and the policy and criterion
// names users type are mapped onto the proto enums there and nowhere else.
#ifndef PRUNESERVE_CORE_JOBS_JOB_SPEC_H_
#define PRUNESERVE_CORE_JOBS_JOB_SPEC_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "pruneserve/v1/model.pb.h"
#include "pruneserve/v1/pruning_jobs.pb.h"

namespace pruneserve::jobs {

// Sizes a submitted spec may not exceed, so that one submission cannot make
// a worker allocate without bound or fail only after all its compute.
// Exceeding one is INVALID_ARGUMENT naming the field and the limit's flag,
// and is counted in pruneserve_admission_refusals_total.
struct JobSpecLimits {
  // Bytes of `description` (--job_max_description_bytes); the repository
  // refuses longer ones when it registers the result, i.e. after the job's
  // compute, so the job must be refused at submit instead.
  int64_t max_description_bytes = 4096;
  // Entries of pruning.exclude (--job_max_exclude_patterns).
  int max_exclude_patterns = 64;
  // Bytes of one pruning.exclude pattern (--job_max_exclude_pattern_bytes).
  int64_t max_exclude_pattern_bytes = 256;
  // Largest dim of input_shape (--job_max_input_dim).
  int64_t max_input_dim = 4096;
  // Elements of one input, C * H * W (--job_max_input_elements): the FLOPs
  // count and the analysis run the model on a batch-1 input of this size,
  // so activations scale with it.
  int64_t max_input_elements = int64_t{1} << 22;
};

// Maps one data field as submitted to the spec the job stores and its
// worker opens; its error (any code) is returned prefixed with the field.
// The server passes datasets::JobDataResolver::Resolve (stored data sets,
// --data_roots); local runs pass none.
using DataSpecResolver =
    std::function<absl::StatusOr<std::string>(const std::string& spec)>;

// Returns `spec` with defaults filled in for the model `model` (the version
// the spec names, already looked up): the input shape falls back to the
// model's example input shape, other zero fields to JobSpecDefaults(). The
// policy and criterion may be given by name (the deprecated string fields)
// or enum or both (then they must agree); the result carries both, the
// name canonical. INVALID_ARGUMENT naming the first bad field, also for
// sizes over `limits`; the model must be TorchScript. Every
// pruning.exclude entry must compile as an RE2 pattern (RE2 syntax, linear
// time; a plain layer name is a valid pattern). Each non-empty data field
// is replaced by what `data_resolver` returns for it; without one, it must
// parse and its directory exist (INVALID_ARGUMENT naming it otherwise).
// Reads only directory entries and the resolver's index; never blocks for
// long.
absl::StatusOr<v1::JobSpec> ResolveJobSpec(
    v1::JobSpec spec, const v1::ModelVersion& model,
    const JobSpecLimits& limits = {},
    const DataSpecResolver& data_resolver = nullptr);

}  // namespace pruneserve::jobs

#endif  // PRUNESERVE_CORE_JOBS_JOB_SPEC_H_
