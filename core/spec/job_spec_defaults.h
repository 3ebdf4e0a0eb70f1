// The job spec's vocabulary and defaults, without LibTorch: the proto enum
// of each pruning policy and importance criterion, and a spec holding the
// value every zero field resolves to, taken from the core Options structs'
// initialisers (torch-free option headers). ResolveJobSpec
// (core/jobs/job_spec.h) applies them; prunectl prints its help from them.
#ifndef PRUNESERVE_CORE_SPEC_JOB_SPEC_DEFAULTS_H_
#define PRUNESERVE_CORE_SPEC_JOB_SPEC_DEFAULTS_H_

#include "absl/status/statusor.h"
#include "core/pruning/pruning_options.h"
#include "pruneserve/v1/pruning_jobs.pb.h"

namespace pruneserve::spec {

// A spec whose fields hold the value ResolveJobSpec gives each zero field:
// the pruning guards from pruning::PolicyOptions, the criterion from
// pruning::PruningOptions, the optimizer from training::SgdOptions, rounds
// and calibration images from pipeline::PipelineOptions, the quantize and
// export stages from their options. Fields whose default depends on the
// submitted spec or model (input shape, output and xmodel names) stay
// empty. Never fails; the same object for the life of the process.
const v1::JobSpec& JobSpecDefaults();

// The policy and criterion a spec names: the enum field when set, else the
// name (a spec stored before the enums existed has only names), else the
// default. INVALID_ARGUMENT naming the field for an unknown name or enum
// value, or when both are set and disagree.
absl::StatusOr<pruning::PolicyKind> ResolvePolicyKind(
    const v1::JobPruning& pruning);
absl::StatusOr<pruning::CriterionKind> ResolveCriterionKind(
    const v1::JobPruning& pruning);

// As above, with the default for an unknown or contradictory value;
// ResolveJobSpec refuses those, so for a resolved spec these are exact.
pruning::PolicyKind PolicyKindOf(const v1::JobPruning& pruning);
pruning::CriterionKind CriterionKindOf(const v1::JobPruning& pruning);

// The proto enum value of a core enum value.
v1::PruningPolicy PolicyWire(pruning::PolicyKind kind);
v1::ImportanceCriterion CriterionWire(pruning::CriterionKind kind);

}  // namespace pruneserve::spec

#endif  // PRUNESERVE_CORE_SPEC_JOB_SPEC_DEFAULTS_H_
