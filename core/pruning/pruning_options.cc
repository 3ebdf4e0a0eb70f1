// Names of the policy, rule and criterion enums (one table each, read both
// ways), the calibration rule and exclude-pattern compilation.
#include "core/pruning/pruning_options.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "re2/re2.h"

namespace pruneserve::pruning {
namespace {

template <typename Enum>
using NameTable = std::pair<Enum, const char*>;

constexpr NameTable<PolicyKind> kPolicyNames[] = {
    {PolicyKind::kRefined, "refined"},
    {PolicyKind::kUniform, "uniform"},
    {PolicyKind::kGlobalThreshold, "global_threshold"},
    {PolicyKind::kThreshold, "threshold"},
    {PolicyKind::kTargetFlops, "target_flops"},
    {PolicyKind::kBudgeted, "budgeted"},
    {PolicyKind::kGlobalNormalized, "global_normalized"},
    {PolicyKind::kLamp, "lamp"},
};

constexpr NameTable<RefinedRule> kRuleNames[] = {
    {RefinedRule::kAuto, "auto"},
    {RefinedRule::kPlain, "plain"},
    {RefinedRule::kResidual, "residual"},
};

constexpr NameTable<CriterionKind> kCriterionNames[] = {
    {CriterionKind::kBnGamma, "bn_gamma"},
    {CriterionKind::kL1, "l1"},
    {CriterionKind::kL2, "l2"},
    {CriterionKind::kApoz, "apoz"},
    {CriterionKind::kRandom, "random"},
};

template <typename Enum, size_t N>
std::vector<std::string> NamesOf(const NameTable<Enum> (&table)[N]) {
  std::vector<std::string> names;
  for (const auto& [v, name] : table) names.push_back(name);
  return names;
}

template <typename Enum, size_t N>
std::string NameOf(const NameTable<Enum> (&table)[N], Enum value) {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return "unknown";
}

// INVALID_ARGUMENT "unknown <what> '<name>' (a, b, c)" when `name` is not in
// `table`.
template <typename Enum, size_t N>
absl::StatusOr<Enum> Parse(const NameTable<Enum> (&table)[N],
                           const std::string& name, const char* what) {
  for (const auto& [v, n] : table) {
    if (name == n) return v;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown ", what, " '", name, "' (",
                   absl::StrJoin(NamesOf(table), ", "), ")"));
}

}  // namespace

absl::StatusOr<PolicyKind> ParsePolicyKind(const std::string& name) {
  return Parse(kPolicyNames, name, "policy");
}

std::string PolicyKindName(PolicyKind kind) {
  return NameOf(kPolicyNames, kind);
}

std::vector<std::string> PolicyKindNames() { return NamesOf(kPolicyNames); }

absl::StatusOr<RefinedRule> ParseRefinedRule(const std::string& name) {
  if (name.empty()) return RefinedRule::kAuto;
  return Parse(kRuleNames, name, "refined rule");
}

std::string RefinedRuleName(RefinedRule rule) {
  return NameOf(kRuleNames, rule);
}

absl::StatusOr<CriterionKind> ParseCriterionKind(const std::string& name) {
  return Parse(kCriterionNames, name, "criterion");
}

std::string CriterionKindName(CriterionKind kind) {
  return NameOf(kCriterionNames, kind);
}

std::vector<std::string> CriterionKindNames() {
  return NamesOf(kCriterionNames);
}

bool PolicyMeasuresSparsity(PolicyKind policy) {
  return policy == PolicyKind::kRefined || policy == PolicyKind::kTargetFlops ||
         policy == PolicyKind::kBudgeted;
}

bool PolicyMeasuresSensitivity(PolicyKind policy) {
  return policy == PolicyKind::kBudgeted;
}

bool PolicyHasTarget(PolicyKind policy) {
  return policy == PolicyKind::kTargetFlops ||
         policy == PolicyKind::kBudgeted ||
         policy == PolicyKind::kGlobalNormalized || policy == PolicyKind::kLamp;
}

bool NeedsCalibration(PolicyKind policy, CriterionKind criterion) {
  return PolicyMeasuresSparsity(policy) || criterion == CriterionKind::kApoz;
}

absl::Status ValidatePolicyOptions(const PolicyOptions& o) {
  if (o.min_channels < 1 || o.round_to < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("min_channels and round_to must be >= 1, got ",
                     o.min_channels, " and ", o.round_to));
  }
  const auto in_unit = [](double v) { return v >= 0 && v < 1; };
  if ((o.kind == PolicyKind::kUniform ||
       o.kind == PolicyKind::kGlobalThreshold) &&
      !in_unit(o.ratio)) {
    return absl::InvalidArgumentError(
        absl::StrCat("ratio must be in [0, 1), got ", o.ratio));
  }
  if (o.kind == PolicyKind::kBudgeted) {
    if (!in_unit(o.target_flops_reduction) ||
        !in_unit(o.target_params_reduction) ||
        !in_unit(o.target_latency_reduction) ||
        (o.target_flops_reduction == 0 && o.target_params_reduction == 0 &&
         o.target_latency_reduction == 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "budgeted: target_flops_reduction, target_params_reduction and "
          "target_latency_reduction must be in [0, 1), at least one of them "
          "above 0; got ",
          o.target_flops_reduction, ", ", o.target_params_reduction, ", ",
          o.target_latency_reduction));
    }
    if (!(o.max_group_ratio > 0 && o.max_group_ratio <= 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("budgeted: max_group_ratio must be in (0, 1], got ",
                       o.max_group_ratio));
    }
  } else if (PolicyHasTarget(o.kind) &&
             !(o.target_flops_reduction > 0 && o.target_flops_reduction < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("target_flops_reduction must be in (0, 1), got ",
                     o.target_flops_reduction));
  }
  return absl::OkStatus();
}

std::unique_ptr<re2::RE2> CompileExcludePattern(const std::string& pattern) {
  RE2::Options options;
  options.set_log_errors(false);
  // Patterns are at most a few hundred bytes; this only stops pathological
  // repetition counts like a{1000}{1000}.
  options.set_max_mem(int64_t{1} << 20);
  return std::make_unique<RE2>(pattern, options);
}

absl::Status ValidateExcludePattern(const std::string& pattern) {
  const std::unique_ptr<RE2> re = CompileExcludePattern(pattern);
  if (re->ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("\"", pattern, "\" is not an RE2 pattern: ", re->error()));
}

}  // namespace pruneserve::pruning
