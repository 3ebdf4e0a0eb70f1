#include "core/pruning/latency_search.h"

#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/pruning/channel_dependency_graph.h"
#include "core/util/torch_status.h"

namespace pruneserve::pruning {

namespace {

class TorchLatencyMeter : public LatencyMeter {
 public:
  explicit TorchLatencyMeter(TorchLatencyMeterOptions options)
      : options_(options) {}

  absl::StatusOr<std::vector<double>> Measure(
      const std::vector<torch::jit::Module*>& modules,
      const std::vector<int64_t>& input_shape) override {
    std::vector<double> fastest(modules.size(),
                                std::numeric_limits<double>::infinity());
    try {
      c10::InferenceMode inference;
      const torch::Tensor input = torch::zeros(input_shape);
      for (int i = 0; i < options_.warmup_runs; ++i) {
        for (torch::jit::Module* m : modules) m->forward({input});
      }
      for (int i = 0; i < std::max(1, options_.runs); ++i) {
        for (size_t k = 0; k < modules.size(); ++k) {
          const auto start = std::chrono::steady_clock::now();
          modules[k]->forward({input});
          fastest[k] =
              std::min(fastest[k], std::chrono::duration<double, std::milli>(
                                       std::chrono::steady_clock::now() - start)
                                       .count());
        }
      }
    } catch (const std::exception& e) {
      return TorchErrorToStatus(e, "timing the forward pass");
    }
    // The fastest pass: what else runs on the host only ever adds time (a
    // preempted pass on a busy 2-core machine takes whole scheduler ticks),
    // so the minimum is the stablest figure of the model's own cost.
    return fastest;
  }

 private:
  const TorchLatencyMeterOptions options_;
};

// An eval-mode copy of `module` that shares nothing with it.
absl::StatusOr<torch::jit::Module> EvalClone(const torch::jit::Module& module) {
  try {
    torch::jit::Module copy = module.clone();
    copy.eval();
    return copy;
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "copying the module",
                              absl::StatusCode::kInternal);
  }
}

}  // namespace

std::unique_ptr<LatencyMeter> MakeTorchLatencyMeter(
    TorchLatencyMeterOptions options) {
  return std::make_unique<TorchLatencyMeter>(options);
}

absl::StatusOr<LatencySearchResult> SearchFlopsForLatency(
    const torch::jit::Module& module, const std::vector<int64_t>& input_shape,
    const MasksForFlopsTarget& masks_for, LatencyMeter& meter,
    const LatencySearchOptions& options) {
  if (!(options.target_reduction > 0.0 && options.target_reduction < 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "latency target must be in (0, 1), got ", options.target_reduction));
  }
  LatencySearchResult result;
  auto dense = EvalClone(module);
  if (!dense.ok()) return dense.status();
  // One probe's figures: the dense copy timed again with the pruned one,
  // their passes interleaved, so that what else the machine does at that
  // moment slows both (a busy 2-core host can slow small forward passes
  // many times over).
  struct Timing {
    double dense_ms = 0.0;
    double pruned_ms = 0.0;
    bool fast_enough = false;
  };
  // Prunes a clone to the plan of MAC target f and times it. The masks'
  // OutOfRange (no plan reaches f) passes through.
  auto probe = [&](double f) -> absl::StatusOr<Timing> {
    auto masks = masks_for(f);
    if (!masks.ok()) return masks.status();
    auto copy = EvalClone(module);
    if (!copy.ok()) return copy.status();
    auto analysis = ChannelDependencyGraph::Build(*copy, input_shape);
    if (!analysis.ok()) return analysis.status();
    if ((*analysis)->groups().size() != masks->size()) {
      return absl::InternalError(absl::StrCat(
          "the copy's analysis found ", (*analysis)->groups().size(),
          " channel groups, the plan has ", masks->size()));
    }
    auto surgery = ApplyChannelPruning(**analysis, *masks);
    if (!surgery.ok()) return surgery.status();
    ++result.probes;
    auto ms = meter.Measure({&*dense, &*copy}, input_shape);
    if (!ms.ok()) return ms.status();
    if (ms->size() != 2) {
      return absl::InternalError("the latency meter lost a module");
    }
    Timing t;
    t.dense_ms = (*ms)[0];
    t.pruned_ms = (*ms)[1];
    t.fast_enough =
        t.pruned_ms <= t.dense_ms * (1.0 - options.target_reduction);
    return t;
  };
  auto take = [&](double f, const Timing& t) {
    result.flops_reduction = f;
    result.dense_ms = t.dense_ms;
    result.pruned_ms = t.pruned_ms;
  };

  // The top of the range first: when even it misses, there is nothing to
  // bisect. A top with no plan steps down until one exists.
  double lo = std::max(0.0, options.min_flops_reduction);
  double hi = std::max(lo, options.max_flops_reduction);
  absl::StatusOr<Timing> at_hi = probe(hi);
  while (!at_hi.ok() && absl::IsOutOfRange(at_hi.status()) && hi - lo > 0.01) {
    hi = std::max(lo, hi - 0.05);
    at_hi = probe(hi);
  }
  if (!at_hi.ok()) return at_hi.status();
  take(hi, *at_hi);
  result.reached = at_hi->fast_enough;
  if (!result.reached) return result;
  // The floor itself may be enough (a user's MAC target above what the
  // latency needs).
  if (lo > 0.0) {
    auto at_lo = probe(lo);
    if (!at_lo.ok()) return at_lo.status();
    if (at_lo->fast_enough) {
      take(lo, *at_lo);
      return result;
    }
  }
  for (int i = 0; i < options.iterations; ++i) {
    const double mid = 0.5 * (lo + hi);
    auto at_mid = probe(mid);
    if (!at_mid.ok()) return at_mid.status();
    if (at_mid->fast_enough) {
      hi = mid;
      take(mid, *at_mid);
    } else {
      lo = mid;
    }
  }
  return result;
}

}  // namespace pruneserve::pruning
