#include "core/pruning/ratio_policy.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/pruning/channel_budget.h"
#include "re2/re2.h"

namespace pruneserve::pruning {

RefinedGuards GuardsFor(const PolicyOptions& o, bool residual_model) {
  const bool residual =
      o.refined_rule == RefinedRule::kResidual ||
      (o.refined_rule == RefinedRule::kAuto && residual_model);
  RefinedGuards g;
  g.halving_cap = o.halving_cap.value_or(!residual);
  g.min_sparsity = o.min_sparsity.value_or(residual ? 0.0 : 0.1);
  g.threshold_at_zero = residual;
  return g;
}

std::string RefinedGuards::Describe() const {
  return absl::StrFormat(
      "%s: k = int(C * s)%s, %s",
      threshold_at_zero ? "residual (ResNet-50 script)" : "plain (VGG script)",
      halving_cap ? ", halved when s >= 0.5" : "",
      min_sparsity > 0
          ? absl::StrFormat("below s = %.2f only zero scores go", min_sparsity)
          : "no skip");
}

KeepMasks PruningPlan::masks() const {
  KeepMasks out;
  for (const GroupDecision& d : groups) out.push_back(d.keep);
  return out;
}

namespace {

// Restores removed channels, best score first, until min_channels and
// round_to hold; then sets the threshold to the largest removed score.
void ApplyGuards(const std::vector<double>& scores, const PolicyOptions& o,
                 GroupDecision& d) {
  const int64_t c = static_cast<int64_t>(scores.size());
  int64_t kept = std::count(d.keep.begin(), d.keep.end(), true);
  int64_t want = std::min(c, std::max(kept, o.min_channels));
  if (o.round_to > 1) {
    want = std::min(c, (want + o.round_to - 1) / o.round_to * o.round_to);
  }
  if (want > kept) {
    std::vector<int64_t> removed;
    for (int64_t i = 0; i < c; ++i) {
      if (!d.keep[i]) removed.push_back(i);
    }
    std::stable_sort(removed.begin(), removed.end(), [&](int64_t a, int64_t b) {
      return scores[a] > scores[b];
    });
    for (int64_t i = 0; i < want - kept; ++i) d.keep[removed[i]] = true;
  }
  d.threshold = 0.0;
  bool any = false;
  for (int64_t i = 0; i < c; ++i) {
    if (!d.keep[i]) {
      d.threshold = any ? std::max(d.threshold, scores[i]) : scores[i];
      any = true;
    }
  }
}

GroupDecision SelectLowest(const std::vector<double>& scores, int64_t n,
                           const PolicyOptions& o) {
  GroupDecision d;
  d.keep.assign(scores.size(), true);
  std::vector<int64_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return scores[a] < scores[b]; });
  n = std::min<int64_t>(n, static_cast<int64_t>(scores.size()));
  for (int64_t i = 0; i < n; ++i) d.keep[order[i]] = false;
  ApplyGuards(scores, o, d);
  return d;
}

GroupDecision SelectAbove(const std::vector<double>& scores, double threshold,
                          const PolicyOptions& o) {
  GroupDecision d;
  d.keep.resize(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) d.keep[i] = scores[i] > threshold;
  ApplyGuards(scores, o, d);
  return d;
}

int64_t KeptCount(const std::vector<ChannelRef>& refs, const KeepMasks& keep) {
  int64_t n = 0;
  for (const ChannelRef& r : refs) {
    if (r.group < 0 || keep[r.group][r.channel]) ++n;
  }
  return n;
}

// The exclude patterns, compiled once per plan. A pattern RE2 rejects (the
// job layer refuses those at submit) still matches its exact text.
class ExcludeMatcher {
 public:
  explicit ExcludeMatcher(const std::vector<std::string>& patterns) {
    for (const std::string& p : patterns) {
      std::unique_ptr<RE2> re = CompileExcludePattern(p);
      if (!re->ok()) re.reset();
      patterns_.emplace_back(p, std::move(re));
    }
  }

  bool Excluded(const ChannelGroup& g) const {
    if (Matches(g.name)) return true;
    for (const std::string& prod : g.producers) {
      if (Matches(prod)) return true;
    }
    return false;
  }

 private:
  bool Matches(const std::string& name) const {
    for (const auto& [text, re] : patterns_) {
      if (name == text || (re != nullptr && RE2::FullMatch(name, *re))) {
        return true;
      }
    }
    return false;
  }

  std::vector<std::pair<std::string, std::unique_ptr<RE2>>> patterns_;
};

double GroupSparsity(const ChannelGroup& g, const SparsityProfile* profile) {
  if (profile == nullptr) return -1.0;
  double s = -1.0;
  for (const std::string& consumer : g.consumers) {
    if (const LayerActivationStats* stats = profile->Find(consumer)) {
      s = s < 0 ? stats->input_sparsity : std::min(s, stats->input_sparsity);
    }
  }
  return s;
}

// Why group `g` may not be pruned under `o`, or "" when it may.
std::string IneligibleReason(const ChannelDependencyGraph& analysis,
                             const ChannelGroup& g,
                             const std::vector<std::vector<double>>& scores,
                             const std::vector<std::string>& score_errors,
                             const ExcludeMatcher& exclude,
                             const PolicyOptions& o) {
  if (!g.prunable) return absl::StrCat("frozen: ", g.frozen_reason);
  if (exclude.Excluded(g)) return "excluded";
  const bool keep_stream = analysis.has_residual() && !o.prune_residual_stream;
  if (keep_stream && g.residual) return "residual stream";
  if (keep_stream && g.stem) return "stem";
  if (scores[g.id].size() != g.channels.size()) {
    return g.id < static_cast<int>(score_errors.size()) &&
                   !score_errors[g.id].empty()
               ? score_errors[g.id]
               : "no importance scores";
  }
  return "";
}

// Keeps the eligible groups' channels whose score is above `threshold`.
void ApplyThreshold(const ChannelDependencyGraph& analysis,
                    const std::vector<bool>& eligible,
                    const std::vector<std::vector<double>>& scores,
                    double threshold, const PolicyOptions& o,
                    PruningPlan& plan) {
  for (const ChannelGroup& g : analysis.groups()) {
    if (!eligible[g.id]) continue;
    const double s = plan.groups[g.id].sparsity;
    plan.groups[g.id] = SelectAbove(scores[g.id], threshold, o);
    const auto& keep = plan.groups[g.id].keep;
    plan.groups[g.id].ratio = g.channels.empty()
                                  ? 0.0
                                  : 1.0 - static_cast<double>(std::count(
                                              keep.begin(), keep.end(), true)) /
                                              g.channels.size();
    plan.groups[g.id].sparsity = s;
  }
}

// One global threshold over the eligible groups: the floor(N * fraction)-th
// smallest of all their `scores`.
void ApplyGlobalThreshold(const ChannelDependencyGraph& analysis,
                          const std::vector<bool>& eligible,
                          const std::vector<std::vector<double>>& scores,
                          double fraction, const PolicyOptions& o,
                          PruningPlan& plan) {
  std::vector<double> all;
  for (const ChannelGroup& g : analysis.groups()) {
    if (eligible[g.id]) {
      all.insert(all.end(), scores[g.id].begin(), scores[g.id].end());
    }
  }
  std::sort(all.begin(), all.end());
  const size_t n =
      static_cast<size_t>(std::floor(all.size() * fraction + 1e-9));
  if (n == 0) return;
  ApplyThreshold(analysis, eligible, scores, all[n - 1], o, plan);
}

// Each eligible group's scores normalised for a global ranking: divided by
// their mean (global_normalized) or LAMP's s^2 / (sum of s^2 over the
// scores not below s, ties in index order).
std::vector<std::vector<double>> NormalizedScores(
    PolicyKind kind, const std::vector<std::vector<double>>& scores,
    const std::vector<bool>& eligible) {
  std::vector<std::vector<double>> out(scores.size());
  for (size_t g = 0; g < scores.size(); ++g) {
    if (!eligible[g] || scores[g].empty()) continue;
    const std::vector<double>& s = scores[g];
    out[g].resize(s.size(), 0.0);
    if (kind == PolicyKind::kGlobalNormalized) {
      const double mean = std::accumulate(s.begin(), s.end(), 0.0) /
                          static_cast<double>(s.size());
      for (size_t i = 0; i < s.size(); ++i) {
        out[g][i] = mean > 0 ? s[i] / mean : 0.0;
      }
      continue;
    }
    const std::vector<int64_t> ascending = RemovalOrder(s);
    double tail = 0.0;  // sum of squares of this channel and all above it
    for (auto it = ascending.rbegin(); it != ascending.rend(); ++it) {
      const double sq = s[*it] * s[*it];
      tail += sq;
      out[g][*it] = tail > 0 ? sq / tail : 0.0;
    }
  }
  return out;
}

std::string ReachedWarning(PolicyKind kind, double got, double target) {
  return absl::StrFormat(
      "%s: reached %.2f%% MAC reduction for %.2f%% requested (channel "
      "granularity)",
      PolicyKindName(kind), 100 * got, 100 * target);
}

}  // namespace

std::pair<double, double> BisectToTarget(
    const std::function<double(double)>& reduction, double lo, double hi,
    double target) {
  for (int i = 0; i < 50; ++i) {
    const double mid = 0.5 * (lo + hi);
    (reduction(mid) >= target ? hi : lo) = mid;
  }
  const double rl = reduction(lo);
  const double rh = reduction(hi);
  return std::abs(rl - target) < std::abs(rh - target) ? std::make_pair(lo, rl)
                                                       : std::make_pair(hi, rh);
}

std::vector<bool> EligibleGroups(const ChannelDependencyGraph& analysis,
                                 const std::vector<std::vector<double>>& scores,
                                 const PolicyOptions& o) {
  const ExcludeMatcher exclude(o.exclude);
  std::vector<bool> eligible(analysis.groups().size(), false);
  for (const ChannelGroup& g : analysis.groups()) {
    eligible[g.id] =
        g.id < static_cast<int>(scores.size()) &&
        IneligibleReason(analysis, g, scores, {}, exclude, o).empty();
  }
  return eligible;
}

double RefinedRatio(double sparsity, const RefinedGuards& g) {
  if (sparsity < g.min_sparsity || sparsity <= 0) return 0.0;
  double r = sparsity;
  if (g.halving_cap && r >= 0.5) r = 0.5 * sparsity;
  return r;
}

double CumulativeRefinedRatio(double sparsity, int64_t channels,
                              int64_t original, const RefinedGuards& g) {
  if (!g.halving_cap || channels <= 0 || original < channels) {
    return RefinedRatio(sparsity, g);
  }
  if (sparsity < g.min_sparsity || sparsity <= 0) return 0.0;
  const double c = static_cast<double>(channels);
  const double c0 = static_cast<double>(original);
  const double total = 1.0 - c * (1.0 - sparsity) / c0;
  if (total < 0.5) return sparsity;
  const double kept = c0 * (1.0 - 0.5 * total);
  return std::max(0.0, (c - kept) / c);
}

GroupDecision SelectByRefinedRule(const std::vector<double>& scores,
                                  double ratio, const PolicyOptions& o,
                                  const RefinedGuards& g) {
  GroupDecision d;
  d.keep.assign(scores.size(), true);
  d.ratio = std::max(0.0, ratio);
  const int64_t c = static_cast<int64_t>(scores.size());
  if (c == 0) return d;
  double threshold = 0.0;  // a skipped layer: only zero scores go
  if (ratio > 0 || g.threshold_at_zero) {
    std::vector<double> sorted = scores;
    std::sort(sorted.begin(), sorted.end());
    int64_t k = static_cast<int64_t>(std::floor(c * d.ratio + 1e-9));
    threshold = sorted[std::min(k, c - 1)];
  }
  int64_t kept = 0;
  for (int64_t i = 0; i < c; ++i) {
    d.keep[i] = scores[i] > threshold;
    kept += d.keep[i] ? 1 : 0;
  }
  if (kept < o.min_channels) {
    // The scripts' fallback: every channel with a non-zero score.
    for (int64_t i = 0; i < c; ++i) d.keep[i] = scores[i] > 0;
  }
  ApplyGuards(scores, o, d);
  return d;
}

int64_t EstimateMacs(const ChannelDependencyGraph& analysis,
                     const KeepMasks& keep) {
  int64_t total = 0;
  for (const LayerGeometry& l : analysis.layers()) {
    total +=
        l.WeightPairs(KeptCount(l.outputs, keep), KeptCount(l.inputs, keep)) *
        l.macs_per_pair;
  }
  return total;
}

absl::StatusOr<PruningPlan> PlanPruning(
    const ChannelDependencyGraph& analysis,
    const std::vector<std::vector<double>>& scores,
    const std::vector<std::string>& score_errors,
    const SparsityProfile* sparsity, const PolicyOptions& o,
    const SensitivityProfile* sensitivity) {
  const auto& groups = analysis.groups();
  if (scores.size() != groups.size()) {
    return absl::InvalidArgumentError("one score vector per group expected");
  }
  if (auto valid = ValidatePolicyOptions(o); !valid.ok()) return valid;
  // budgeted measures sparsity only to report it.
  const bool needs_sparsity =
      o.kind == PolicyKind::kRefined || o.kind == PolicyKind::kTargetFlops;
  if (needs_sparsity && sparsity == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        PolicyKindName(o.kind), " needs calibration data to measure sparsity"));
  }
  if (PolicyMeasuresSensitivity(o.kind) &&
      (sensitivity == nullptr || sensitivity->groups.size() != groups.size())) {
    return absl::FailedPreconditionError(absl::StrCat(
        PolicyKindName(o.kind),
        " needs labelled calibration data to measure each layer's damage"));
  }
  PruningPlan plan;
  const bool residual_model = analysis.has_residual();
  const RefinedGuards guards = GuardsFor(o, residual_model);
  if (needs_sparsity) {
    plan.refined_rule = guards.Describe();
  }
  const ExcludeMatcher exclude(o.exclude);
  std::vector<bool> eligible(groups.size(), false);
  for (const ChannelGroup& g : groups) {
    GroupDecision d;
    d.keep.assign(g.channels.size(), true);
    d.sparsity = GroupSparsity(g, sparsity);
    d.skip_reason =
        IneligibleReason(analysis, g, scores, score_errors, exclude, o);
    eligible[g.id] = d.skip_reason.empty();
    plan.groups.push_back(std::move(d));
  }
  auto refined_ratio = [&](const ChannelGroup& g, GroupDecision& d) {
    if (d.sparsity < 0) {
      d.skip_reason = "no measured consumer";
      return 0.0;
    }
    double r = RefinedRatio(d.sparsity, guards);
    if (o.cumulative_halving) {
      const int64_t now = static_cast<int64_t>(g.channels.size());
      auto it = o.original_channels.find(g.name);
      r = CumulativeRefinedRatio(
          d.sparsity, now, it != o.original_channels.end() ? it->second : now,
          guards);
    }
    if (r <= 0 && d.sparsity < guards.min_sparsity) {
      d.skip_reason = absl::StrFormat("sparsity %.3f below %.2f", d.sparsity,
                                      guards.min_sparsity);
    }
    return r;
  };
  switch (o.kind) {
    case PolicyKind::kRefined:
      for (const ChannelGroup& g : groups) {
        GroupDecision& d = plan.groups[g.id];
        if (!eligible[g.id]) continue;
        if (d.sparsity < 0) {
          d.skip_reason = "no measured consumer";
          continue;
        }
        const double r = refined_ratio(g, d);
        const double s = d.sparsity;
        const std::string skip = d.skip_reason;
        d = SelectByRefinedRule(scores[g.id], r, o, guards);
        d.sparsity = s;
        // A skipped layer still loses channels whose score is exactly 0.
        if (std::count(d.keep.begin(), d.keep.end(), false) == 0) {
          d.skip_reason = skip;
        }
      }
      break;
    case PolicyKind::kUniform:
      for (const ChannelGroup& g : groups) {
        if (!eligible[g.id]) continue;
        double s = plan.groups[g.id].sparsity;
        plan.groups[g.id] =
            SelectLowest(scores[g.id],
                         static_cast<int64_t>(
                             std::floor(g.channels.size() * o.ratio + 1e-9)),
                         o);
        plan.groups[g.id].ratio = o.ratio;
        plan.groups[g.id].sparsity = s;
      }
      break;
    case PolicyKind::kGlobalThreshold:
      ApplyGlobalThreshold(analysis, eligible, scores, o.ratio, o, plan);
      break;
    case PolicyKind::kThreshold:
      ApplyThreshold(analysis, eligible, scores, o.threshold, o, plan);
      break;
    case PolicyKind::kTargetFlops: {
      std::vector<double> base(groups.size(), 0.0);
      for (const ChannelGroup& g : groups) {
        if (eligible[g.id]) base[g.id] = refined_ratio(g, plan.groups[g.id]);
      }
      // The largest ratio that still keeps min_channels: the rule removes
      // k + 1 channels for k = int(C * r), and falls back to keeping every
      // non-zero score when fewer survive, so a larger ratio would prune
      // less, not more, and the bisection below needs a monotone knob.
      std::vector<double> cap(groups.size(), 0.0);
      for (const ChannelGroup& g : groups) {
        const int64_t c = static_cast<int64_t>(g.channels.size());
        const int64_t k = c - o.min_channels - 1;
        cap[g.id] = k > 0 ? static_cast<double>(k) / c : 0.0;
      }
      const double macs0 =
          static_cast<double>(EstimateMacs(analysis, KeepAll(analysis)));
      auto apply = [&](double alpha, PruningPlan& p) {
        for (const ChannelGroup& g : groups) {
          if (base[g.id] <= 0) continue;
          double s = p.groups[g.id].sparsity;
          p.groups[g.id] = SelectByRefinedRule(
              scores[g.id], std::min(alpha * base[g.id], cap[g.id]), o, guards);
          p.groups[g.id].sparsity = s;
        }
        return macs0 > 0 ? 1.0 - EstimateMacs(analysis, p.masks()) / macs0
                         : 0.0;
      };
      const double target = o.target_flops_reduction;
      double hi = 1.0;
      PruningPlan trial = plan;
      while (apply(hi, trial) < target && hi < 1024) hi *= 2;
      trial = plan;
      const double best = apply(hi, trial);
      if (best < target - o.flops_tolerance) {
        return absl::OutOfRangeError(absl::StrFormat(
            "target_flops: at most %.1f%% of MACs can be removed under the "
            "guards, %.1f%% requested",
            100 * best, 100 * target));
      }
      const auto [alpha, got] = BisectToTarget(
          [&](double a) {
            trial = plan;
            return apply(a, trial);
          },
          0.0, hi, target);
      apply(alpha, plan);
      plan.ratio_scale = alpha;
      if (std::abs(got - target) > o.flops_tolerance) {
        plan.warnings.push_back(ReachedWarning(o.kind, got, target));
      }
      break;
    }
    case PolicyKind::kGlobalNormalized:
    case PolicyKind::kLamp: {
      const std::vector<std::vector<double>> normalized =
          NormalizedScores(o.kind, scores, eligible);
      const double macs0 =
          static_cast<double>(EstimateMacs(analysis, KeepAll(analysis)));
      const PruningPlan unpruned = plan;
      auto reduction = [&](double fraction) {
        plan = unpruned;
        ApplyGlobalThreshold(analysis, eligible, normalized, fraction, o, plan);
        return macs0 > 0 ? 1.0 - EstimateMacs(analysis, plan.masks()) / macs0
                         : 0.0;
      };
      const double target = o.target_flops_reduction;
      const double best = reduction(1.0);
      if (best < target - o.flops_tolerance) {
        return absl::OutOfRangeError(absl::StrFormat(
            "%s: at most %.1f%% of MACs can be removed under the guards, "
            "%.1f%% requested",
            PolicyKindName(o.kind), 100 * best, 100 * target));
      }
      const auto [fraction, got] = BisectToTarget(reduction, 0.0, 1.0, target);
      reduction(fraction);
      plan.ratio_scale = fraction;
      if (std::abs(got - target) > o.flops_tolerance) {
        plan.warnings.push_back(ReachedWarning(o.kind, got, target));
      }
      break;
    }
    case PolicyKind::kBudgeted: {
      std::vector<std::vector<int64_t>> order(groups.size());
      std::vector<DamageCurve> curves(groups.size());
      for (const ChannelGroup& g : groups) {
        if (!eligible[g.id] || sensitivity->groups[g.id].removed.empty()) {
          continue;
        }
        order[g.id] = RemovalOrder(scores[g.id]);
        curves[g.id] = sensitivity->groups[g.id];
      }
      const ChannelCostModel model(analysis, order);
      const std::vector<int64_t> none(groups.size(), 0);
      const ChannelCostModel::Cost base = model.Evaluate(none);
      const BudgetTargets targets(base, o.target_flops_reduction,
                                  o.target_params_reduction);
      auto removed = AllocateBudget(
          curves,
          [&](const std::vector<int64_t>& r) {
            return targets.Cost(model.Evaluate(r));
          },
          targets.target());
      if (!removed.ok()) {
        std::vector<int64_t> most(groups.size(), 0);
        for (size_t g = 0; g < curves.size(); ++g) {
          if (!curves[g].removed.empty()) most[g] = curves[g].removed.back();
        }
        const ChannelCostModel::Cost least = model.Evaluate(most);
        auto pct = [](int64_t now, int64_t was) {
          return was > 0 ? 100.0 * (1.0 - static_cast<double>(now) / was) : 0.0;
        };
        std::vector<std::string> parts;
        if (o.target_flops_reduction > 0) {
          parts.push_back(absl::StrFormat("%.1f%% of MACs (%.1f%% requested)",
                                          pct(least.macs, base.macs),
                                          100 * o.target_flops_reduction));
        }
        if (o.target_params_reduction > 0) {
          parts.push_back(absl::StrFormat(
              "%.1f%% of weights (%.1f%% requested)",
              pct(least.params, base.params), 100 * o.target_params_reduction));
        }
        return absl::OutOfRangeError(
            absl::StrCat("budgeted: at most ", absl::StrJoin(parts, " and "),
                         " can be removed under the guards"));
      }
      for (const ChannelGroup& g : groups) {
        if (curves[g.id].removed.empty()) continue;
        const double s = plan.groups[g.id].sparsity;
        GroupDecision& d = plan.groups[g.id];
        d = SelectLowest(scores[g.id], (*removed)[g.id], o);
        d.ratio = static_cast<double>((*removed)[g.id]) / g.channels.size();
        d.sparsity = s;
        d.damage = curves[g.id];
      }
      break;
    }
  }
  return plan;
}

}  // namespace pruneserve::pruning
