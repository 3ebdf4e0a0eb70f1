#include "core/pruning/ratio_policy.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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

}  // namespace

double RefinedRatio(double sparsity, const RefinedGuards& g) {
  if (sparsity < g.min_sparsity || sparsity <= 0) return 0.0;
  double r = sparsity;
  if (g.halving_cap && r >= 0.5) r = 0.5 * sparsity;
  return r;
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
    const int64_t out = KeptCount(l.outputs, keep);
    int64_t in = KeptCount(l.inputs, keep);
    if (l.is_conv) in = l.depthwise ? 1 : in / std::max<int64_t>(1, l.groups);
    total += out * in * l.macs_per_pair;
  }
  return total;
}

absl::StatusOr<PruningPlan> PlanPruning(
    const ChannelDependencyGraph& analysis,
    const std::vector<std::vector<double>>& scores,
    const std::vector<std::string>& score_errors,
    const SparsityProfile* sparsity, const PolicyOptions& o) {
  const auto& groups = analysis.groups();
  if (scores.size() != groups.size()) {
    return absl::InvalidArgumentError("one score vector per group expected");
  }
  if (o.min_channels < 1 || o.round_to < 1) {
    return absl::InvalidArgumentError("min_channels and round_to must be >= 1");
  }
  if ((o.kind == PolicyKind::kUniform ||
       o.kind == PolicyKind::kGlobalThreshold) &&
      (o.ratio < 0 || o.ratio >= 1)) {
    return absl::InvalidArgumentError("ratio must be in [0, 1)");
  }
  const bool needs_sparsity = PolicyMeasuresSparsity(o.kind);
  if (needs_sparsity && sparsity == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        PolicyKindName(o.kind), " needs calibration data to measure sparsity"));
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
    if (!g.prunable) {
      d.skip_reason = absl::StrCat("frozen: ", g.frozen_reason);
    } else if (exclude.Excluded(g)) {
      d.skip_reason = "excluded";
    } else if (analysis.has_residual() && !o.prune_residual_stream &&
               g.residual) {
      d.skip_reason = "residual stream";
    } else if (analysis.has_residual() && !o.prune_residual_stream && g.stem) {
      d.skip_reason = "stem";
    } else if (scores[g.id].size() != g.channels.size()) {
      d.skip_reason = g.id < static_cast<int>(score_errors.size()) &&
                              !score_errors[g.id].empty()
                          ? score_errors[g.id]
                          : "no importance scores";
    } else {
      eligible[g.id] = true;
    }
    plan.groups.push_back(std::move(d));
  }
  auto refined_ratio = [&](const ChannelGroup& g, GroupDecision& d) {
    if (d.sparsity < 0) {
      d.skip_reason = "no measured consumer";
      return 0.0;
    }
    double r = RefinedRatio(d.sparsity, guards);
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
    case PolicyKind::kThreshold: {
      double threshold = o.threshold;
      if (o.kind == PolicyKind::kGlobalThreshold) {
        std::vector<double> all;
        for (const ChannelGroup& g : groups) {
          if (eligible[g.id]) {
            all.insert(all.end(), scores[g.id].begin(), scores[g.id].end());
          }
        }
        std::sort(all.begin(), all.end());
        const size_t n =
            static_cast<size_t>(std::floor(all.size() * o.ratio + 1e-9));
        if (n == 0) break;
        threshold = all[n - 1];
      }
      for (const ChannelGroup& g : groups) {
        if (!eligible[g.id]) continue;
        double s = plan.groups[g.id].sparsity;
        plan.groups[g.id] = SelectAbove(scores[g.id], threshold, o);
        const auto& keep = plan.groups[g.id].keep;
        plan.groups[g.id].ratio =
            g.channels.empty() ? 0.0
                               : 1.0 - static_cast<double>(std::count(
                                           keep.begin(), keep.end(), true)) /
                                           g.channels.size();
        plan.groups[g.id].sparsity = s;
      }
      break;
    }
    case PolicyKind::kTargetFlops: {
      std::vector<double> base(groups.size(), 0.0);
      for (const ChannelGroup& g : groups) {
        if (eligible[g.id]) base[g.id] = refined_ratio(g, plan.groups[g.id]);
      }
      const double macs0 =
          static_cast<double>(EstimateMacs(analysis, KeepAll(analysis)));
      auto apply = [&](double alpha, PruningPlan& p) {
        for (const ChannelGroup& g : groups) {
          if (base[g.id] <= 0) continue;
          double s = p.groups[g.id].sparsity;
          p.groups[g.id] = SelectByRefinedRule(
              scores[g.id], std::min(alpha * base[g.id], 0.999), o, guards);
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
      double lo = 0.0;
      for (int i = 0; i < 50; ++i) {
        double mid = 0.5 * (lo + hi);
        trial = plan;
        if (apply(mid, trial) >= target)
          hi = mid;
        else
          lo = mid;
      }
      PruningPlan low = plan, high = plan;
      const double rl = apply(lo, low);
      const double rh = apply(hi, high);
      const bool take_low = std::abs(rl - target) < std::abs(rh - target);
      plan = take_low ? low : high;
      plan.ratio_scale = take_low ? lo : hi;
      const double got = take_low ? rl : rh;
      if (std::abs(got - target) > o.flops_tolerance) {
        plan.warnings.push_back(absl::StrFormat(
            "target_flops: reached %.2f%% MAC reduction for %.2f%% requested "
            "(channel granularity)",
            100 * got, 100 * target));
      }
      break;
    }
  }
  return plan;
}

}  // namespace pruneserve::pruning
