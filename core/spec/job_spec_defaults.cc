#include "core/spec/job_spec_defaults.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/export/export_options.h"
#include "core/pipeline/pipeline_options.h"
#include "core/quantization/quantization_options.h"

namespace pruneserve::spec {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

// Fine-tuning batch size, the paper's. The trainer takes whatever batches
// its source yields, so no core Options struct holds this one.
constexpr int64_t kFinetuneBatchSize = 20;

// The proto enum value of each core enum value.
constexpr std::pair<pruning::PolicyKind, v1::PruningPolicy> kPolicies[] = {
    {pruning::PolicyKind::kRefined, v1::PRUNING_POLICY_REFINED},
    {pruning::PolicyKind::kUniform, v1::PRUNING_POLICY_UNIFORM},
    {pruning::PolicyKind::kGlobalThreshold,
     v1::PRUNING_POLICY_GLOBAL_THRESHOLD},
    {pruning::PolicyKind::kThreshold, v1::PRUNING_POLICY_THRESHOLD},
    {pruning::PolicyKind::kTargetFlops, v1::PRUNING_POLICY_TARGET_FLOPS},
    {pruning::PolicyKind::kBudgeted, v1::PRUNING_POLICY_BUDGETED},
    {pruning::PolicyKind::kGlobalNormalized,
     v1::PRUNING_POLICY_GLOBAL_NORMALIZED},
    {pruning::PolicyKind::kLamp, v1::PRUNING_POLICY_LAMP},
};
constexpr std::pair<pruning::CriterionKind, v1::ImportanceCriterion>
    kCriteria[] = {
        {pruning::CriterionKind::kBnGamma, v1::IMPORTANCE_CRITERION_BN_GAMMA},
        {pruning::CriterionKind::kL1, v1::IMPORTANCE_CRITERION_L1},
        {pruning::CriterionKind::kL2, v1::IMPORTANCE_CRITERION_L2},
        {pruning::CriterionKind::kApoz, v1::IMPORTANCE_CRITERION_APOZ},
        {pruning::CriterionKind::kRandom, v1::IMPORTANCE_CRITERION_RANDOM},
};

template <typename Core, typename Wire, size_t N>
std::optional<Core> CoreOf(const std::pair<Core, Wire> (&table)[N], Wire w) {
  for (const auto& [core, wire] : table) {
    if (wire == w) return core;
  }
  return std::nullopt;
}

template <typename Core, typename Wire, size_t N>
Wire WireOf(const std::pair<Core, Wire> (&table)[N], Core c) {
  for (const auto& [core, wire] : table) {
    if (core == c) return wire;
  }
  return Wire{};
}

// One policy-like choice given as `name` (the string field `field`) and/or
// `wire` (the enum field `field`_kind): the enum when set, else the parsed
// name, else `fallback`. INVALID_ARGUMENT naming the field for an unknown
// name or enum value, or when both are set and disagree.
template <typename Core, typename Wire, size_t N>
absl::StatusOr<Core> ResolveChoice(
    const std::pair<Core, Wire> (&table)[N], absl::string_view field,
    const std::string& name, Wire wire, Core fallback,
    absl::StatusOr<Core> (*parse)(const std::string&)) {
  std::optional<Core> by_name;
  if (!name.empty()) {
    absl::StatusOr<Core> parsed = parse(name);
    if (!parsed.ok()) return Invalid(field, parsed.status().message());
    by_name = *parsed;
  }
  if (wire == Wire{}) return by_name.value_or(fallback);
  const std::string enum_field = absl::StrCat(field, "_kind");
  const std::optional<Core> by_enum = CoreOf(table, wire);
  if (!by_enum) {
    return Invalid(enum_field, absl::StrCat("unknown value ", wire));
  }
  if (by_name && *by_name != *by_enum) {
    return Invalid(enum_field, absl::StrCat("value ", wire, " disagrees with ",
                                            field, " \"", name, "\""));
  }
  return *by_enum;
}

v1::JobSpec BuildDefaults() {
  const pipeline::PipelineOptions pipeline;
  const pruning::PolicyOptions& policy = pipeline.pruning.policy;
  const training::SgdOptions& sgd = pipeline.finetune.sgd;
  const quantization::QuantizationOptions quantize;
  const vitis::VitisExportOptions vitis_export;
  v1::JobSpec d;
  d.mutable_data()->set_calibration_images(pipeline.calibration_examples);
  v1::JobPruning& p = *d.mutable_pruning();
  p.set_policy_kind(WireOf(kPolicies, policy.kind));
  p.set_policy(pruning::PolicyKindName(policy.kind));
  p.set_criterion_kind(WireOf(kCriteria, pipeline.pruning.criterion));
  p.set_criterion(pruning::CriterionKindName(pipeline.pruning.criterion));
  p.set_ratio(policy.ratio);
  p.set_threshold(policy.threshold);
  p.set_target_flops_reduction(policy.target_flops_reduction);
  p.set_round_to(policy.round_to);
  p.set_min_channels(policy.min_channels);
  p.set_refined_rule(pruning::RefinedRuleName(policy.refined_rule));
  v1::JobFinetune& f = *d.mutable_finetune();
  f.set_learning_rate(sgd.learning_rate);
  f.set_momentum(sgd.momentum);
  f.set_weight_decay(sgd.weight_decay);
  f.set_batch_size(kFinetuneBatchSize);
  f.set_label_smoothing(pipeline.finetune.label_smoothing);
  f.set_distill_alpha(pipeline.finetune.distillation.alpha);
  f.set_distill_temperature(pipeline.finetune.distillation.temperature);
  d.set_rounds(pipeline.rounds);
  v1::JobQuantize& q = *d.mutable_quantize();
  q.set_method(quantization::CalibrationMethodName(quantize.method));
  q.set_percentile(quantize.percentile);
  q.set_calibration_images(quantize.calibration_examples);
  d.mutable_vitis_export()->set_calibration_images(
      vitis_export.calibration_images);
  return d;
}

}  // namespace

const v1::JobSpec& JobSpecDefaults() {
  static const v1::JobSpec* const defaults = new v1::JobSpec(BuildDefaults());
  return *defaults;
}

absl::StatusOr<pruning::PolicyKind> ResolvePolicyKind(
    const v1::JobPruning& pruning) {
  return ResolveChoice(kPolicies, "pruning.policy", pruning.policy(),
                       pruning.policy_kind(), pruning::PolicyOptions{}.kind,
                       &pruning::ParsePolicyKind);
}

absl::StatusOr<pruning::CriterionKind> ResolveCriterionKind(
    const v1::JobPruning& pruning) {
  return ResolveChoice(kCriteria, "pruning.criterion", pruning.criterion(),
                       pruning.criterion_kind(),
                       pruning::PruningOptions{}.criterion,
                       &pruning::ParseCriterionKind);
}

pruning::PolicyKind PolicyKindOf(const v1::JobPruning& pruning) {
  return ResolvePolicyKind(pruning).value_or(pruning::PolicyOptions{}.kind);
}

pruning::CriterionKind CriterionKindOf(const v1::JobPruning& pruning) {
  return ResolveCriterionKind(pruning).value_or(
      pruning::PruningOptions{}.criterion);
}

v1::PruningPolicy PolicyWire(pruning::PolicyKind kind) {
  return WireOf(kPolicies, kind);
}

v1::ImportanceCriterion CriterionWire(pruning::CriterionKind kind) {
  return WireOf(kCriteria, kind);
}

}  // namespace pruneserve::spec
