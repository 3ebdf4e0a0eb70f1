// What a pruning run is asked to do, apart from the engine that does it:
// the ratio policy and its guards, the importance criterion, the sparsity
// probe's budget, their user-facing names and the rule saying which of them
// need calibration data. Nothing here needs LibTorch, so the job spec layer
// and the command line fill, check and document these options without it;
// pruning_engine.h and ratio_policy.h include this header.
//
// The field initialisers are the engine's defaults and the only place they
// are written down: job specs resolve their zero fields from them, and
// prunectl's help texts print them.
#ifndef PRUNESERVE_CORE_PRUNING_PRUNING_OPTIONS_H_
#define PRUNESERVE_CORE_PRUNING_PRUNING_OPTIONS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace pruneserve::pruning {

class LatencyMeter;

enum class PolicyKind {
  kRefined,
  kUniform,
  kGlobalThreshold,
  kThreshold,
  kTargetFlops,
  kBudgeted,
  kGlobalNormalized,
  kLamp,
};

// "refined", "uniform", "global_threshold", "threshold", "target_flops",
// "budgeted", "global_normalized", "lamp".
// INVALID_ARGUMENT listing the names for any other string.
absl::StatusOr<PolicyKind> ParsePolicyKind(const std::string& name);
std::string PolicyKindName(PolicyKind kind);
// Every policy's name, in enum order (for help texts).
std::vector<std::string> PolicyKindNames();

// Which of the authors' released scripts the refined policy follows.
enum class RefinedRule {
  kAuto,      // kPlain when the analysis finds no residual add, else kResidual
  kPlain,     // prune_vgg.py: halving cap, skip below 0.1 sparsity
  kResidual,  // prune_ResNet.py (CIFAR-10 ResNet-50): neither guard
};

// "auto" (also the empty string), "plain", "residual".
absl::StatusOr<RefinedRule> ParseRefinedRule(const std::string& name);
std::string RefinedRuleName(RefinedRule rule);

// How channels are scored (see importance_criterion.h).
enum class CriterionKind {
  kBnGamma,  // |gamma| of the group's BatchNorms (the paper)
  kL1,       // L1 norm of the producing filters
  kL2,       // L2 norm of the producing filters
  kApoz,     // 1 - average percentage of zeros of the consumers' inputs
  kRandom,   // seeded random scores, a baseline
};

// "bn_gamma", "l1", "l2", "apoz", "random"; INVALID_ARGUMENT listing the
// names for any other string.
absl::StatusOr<CriterionKind> ParseCriterionKind(const std::string& name);
std::string CriterionKindName(CriterionKind kind);
// Every criterion's name, in enum order (for help texts).
std::vector<std::string> CriterionKindNames();

// True for the policies whose ratios come from measured layer sparsity
// (refined, target_flops), and for budgeted, which reports it per layer.
bool PolicyMeasuresSparsity(PolicyKind policy);

// True for the policy that measures each group's damage on labelled
// calibration data (budgeted).
bool PolicyMeasuresSensitivity(PolicyKind policy);

// True for the policies that take target_flops_reduction (or, budgeted,
// target_params_reduction) as their goal: target_flops, budgeted,
// global_normalized, lamp.
bool PolicyHasTarget(PolicyKind policy);

// True when a run with this policy and criterion reads calibration data:
// the policy measures sparsity, or the criterion (apoz) scores activations.
// The one statement of that rule; job specs and the engine both ask it.
bool NeedsCalibration(PolicyKind policy, CriterionKind criterion);

struct PolicyOptions {
  // Which policy chooses the ratios.
  PolicyKind kind = PolicyKind::kRefined;
  // uniform / global_threshold: fraction of channels to remove.
  double ratio = 0.5;
  // threshold: channels with importance <= this value are removed.
  double threshold = 0.0;
  // target_flops, budgeted, global_normalized, lamp: fraction of the
  // model's MACs to remove (0.3 = 30 %).
  double target_flops_reduction = 0.5;
  // budgeted: when > 0, the fraction of conv/linear weights to remove. With
  // target_flops_reduction also > 0 both must be met; budgeted takes
  // target_flops_reduction 0 as "no MAC target".
  double target_params_reduction = 0.0;
  // budgeted: when > 0, the fraction of the dense model's forward latency
  // to remove, measured on the CPU backend (latency_search.h). The MAC
  // target is then searched for: the smallest one, at least
  // target_flops_reduction, whose pruned model is fast enough. The search
  // works on one damage measurement: sensitivity_stages does not apply.
  double target_latency_reduction = 0.0;
  // budgeted: removal ladder steps; group g is measured at floor(C * i /
  // steps) channels removed for i = 1 .. steps - 1 (after the guards).
  int sensitivity_steps = 10;
  // budgeted: the target is reached in this many stages (1/stages of it
  // each), the damage measured again after each with the channels chosen
  // so far taken out, so that layers hurt by their neighbours' pruning are
  // seen to be. With batch statistics (below) three stages did better than
  // one in pruning_quality_bench by more than two standard errors on
  // ResNet-56 and MobileNetV2, level on VGG13-BN (docs/pruning_quality.md).
  // Each stage is one more measurement.
  int sensitivity_stages = 3;
  // budgeted: measure every damage (and the base loss) with each BatchNorm
  // normalising by the calibration batch's own statistics instead of its
  // running statistics. Taking channels out upstream shifts what every
  // later BatchNorm sees; the running statistics then describe a model
  // that no longer exists and overstate the damage that fine-tuning's
  // first steps repair (the "adaptive BatchNorm" evaluation of EagleEye,
  // Li et al. 2020). Running statistics and training flags are restored.
  // On by default: in pruning_quality_bench it was never more than 0.8
  // points worse than running statistics on any seed, better on VGG13-BN
  // and free of their collapse on ResNet-56 (docs/pruning_quality.md).
  bool sensitivity_batch_statistics = true;
  // budgeted: a group's damage is the mean KL divergence of the outputs
  // from the measured model's (unpruned, or as earlier stages left it) on
  // the calibration images, not the rise of the labels' cross-entropy: it
  // counts every change of the output distribution, not only the part that
  // moves the labelled class.
  bool sensitivity_output_divergence = false;
  // budgeted: no group loses more than this fraction of its channels (the
  // ladder stops there; Torch-Pruning's max_pruning_ratio), in (0, 1].
  // 1 = no cap beyond min_channels.
  double max_group_ratio = 1.0;
  // target_flops: accepted distance to the target, as a fraction of MACs.
  double flops_tolerance = 0.01;
  // refined / target_flops: the rule whose guards apply by default.
  RefinedRule refined_rule = RefinedRule::kAuto;
  // refined: if r >= 0.5 then r = 0.5 * s. Unset: on under the plain rule,
  // off under the residual rule.
  std::optional<bool> halving_cap;
  // refined / target_flops: apply the halving cap to a group's removal
  // over all rounds, counted against original_channels, rather than to
  // each round's ratio (CumulativeRefinedRatio in ratio_policy.h).
  bool cumulative_halving = false;
  // Channels of each group (by ChannelGroup::name) before the first round.
  // The pipeline fills it from the first round's report; a group missing
  // here counts its current channels as original.
  std::map<std::string, int64_t> original_channels;
  // refined: groups whose sparsity is below this lose only channels whose
  // score is exactly 0 (the scripts' threshold 0). Unset: 0.1 under the
  // plain rule, none under the residual rule.
  std::optional<double> min_sparsity;
  // Every group keeps at least this many channels.
  int64_t min_channels = 2;
  // Kept channel counts are rounded up to a multiple of this (1 = off).
  int64_t round_to = 1;
  // Groups whose name or any producer fully matches one of these (exact
  // name or RE2 pattern, see ValidateExcludePattern) are left alone.
  std::vector<std::string> exclude;
  // In networks with residual adds, also prune groups on the residual
  // stream and the stem (off: only channels inside blocks are pruned).
  bool prune_residual_stream = false;
};

// How much calibration data the sparsity probe reads.
struct SparsityProbeOptions {
  // Stop after this many examples (the last batch is truncated).
  int64_t max_examples = 256;
  // Epoch passed to BatchSource::StartEpoch; with the source's seed it
  // fixes which examples are seen, so results are deterministic.
  int64_t epoch = 0;
  // A layer whose input comes straight from a max-pool is measured on the
  // pool's input (the activation it pools) instead. A window's max is 0
  // only when all of it is, so pooled inputs read almost dense and the
  // refined rule skips those layers; this variant shows what that costs.
  bool before_pooling = false;
};

struct PruningOptions {
  // Importance criterion (default: the paper's BN |gamma|).
  CriterionKind criterion = CriterionKind::kBnGamma;
  // Ratio policy, its parameters and guards (defaults: refined, halving cap,
  // skip below 0.1 sparsity, at least 2 channels, residual stream kept).
  PolicyOptions policy;
  // How much calibration data the sparsity probe reads.
  SparsityProbeOptions probe;
  // Seed of the random criterion.
  uint64_t seed = 0;
  // Run the pruned module once and check it keeps the output shape.
  bool verify = true;
  // Times forward passes for policy.target_latency_reduction; not owned.
  // nullptr: LibTorch on this host's CPU (MakeTorchLatencyMeter).
  LatencyMeter* latency_meter = nullptr;
};

// OK when `o` is a policy the engine can plan: min_channels and round_to
// >= 1; a uniform or global_threshold ratio in [0, 1); the targets of the
// policy in range (budgeted: each of target_flops_reduction,
// target_params_reduction and target_latency_reduction in [0, 1), one of
// them above 0, and max_group_ratio in (0, 1]; the other target policies:
// target_flops_reduction in (0, 1)). Otherwise INVALID_ARGUMENT naming the
// field. The engine checks before it measures anything, so bad options
// cost no calibration passes.
absl::Status ValidatePolicyOptions(const PolicyOptions& o);

// An exclude pattern compiled for full matching (RE2 syntax: linear-time
// matching, program memory capped). Check ok() on the result: a pattern RE2
// rejects still comes back, not ok.
std::unique_ptr<re2::RE2> CompileExcludePattern(const std::string& pattern);

// OK when `pattern` compiles as an exclude pattern; otherwise
// INVALID_ARGUMENT quoting the pattern and RE2's reason. Such a pattern
// would still exclude a group of exactly that name.
absl::Status ValidateExcludePattern(const std::string& pattern);

}  // namespace pruneserve::pruning

#endif  // PRUNESERVE_CORE_PRUNING_PRUNING_OPTIONS_H_
