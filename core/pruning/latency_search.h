// The budgeted policy's latency target: the smallest MAC target whose plan,
// applied to a copy of the model, runs at most (1 - target) of the dense
// model's time on the serving backend. Latency is not additive over layers
// (small layers cost their launch overhead, depthwise convs more than their
// MACs say), so it is measured, not modelled: each probe prunes a clone of
// the module and times it against a dense clone, their passes interleaved,
// so that a busy machine slows both alike; the target is met when pruned
// <= (1 - target) * dense within that pair.
//
// The CPU meter times LibTorch forward passes at the job's input shape and
// intra-op threads, which is what the CPU inference backend runs. On an
// FPGA host the DPU's latency follows the compiled xmodel, which does not
// exist before quantization; the CPU figure is the one this host can
// measure at pruning time.
#ifndef PRUNESERVE_CORE_PRUNING_LATENCY_SEARCH_H_
#define PRUNESERVE_CORE_PRUNING_LATENCY_SEARCH_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/pruning/module_surgery.h"

namespace torch::jit {
struct Module;
}  // namespace torch::jit

namespace pruneserve::pruning {

// Times forward passes. Implementations need not be thread-safe; Measure
// blocks while it runs the models.
class LatencyMeter {
 public:
  virtual ~LatencyMeter() = default;
  // Milliseconds of one forward pass of each module at `input_shape` (the
  // modules are in eval mode), in the order given. The passes of the
  // modules are interleaved, so that a stretch in which the host is busy
  // slows all of them. An error when a forward pass fails.
  virtual absl::StatusOr<std::vector<double>> Measure(
      const std::vector<torch::jit::Module*>& modules,
      const std::vector<int64_t>& input_shape) = 0;
};

struct TorchLatencyMeterOptions {
  // Untimed passes first (allocator and thread-pool warm-up).
  int warmup_runs = 3;
  // Timed passes of each module; the fastest is the figure.
  int runs = 15;
};

// The CPU backend's meter: per module, the fastest of `runs` LibTorch
// forward passes on zeros, under inference mode, at the calling thread's
// intra-op threads; pass i of every module runs before pass i + 1 of any.
std::unique_ptr<LatencyMeter> MakeTorchLatencyMeter(
    TorchLatencyMeterOptions options = {});

struct LatencySearchOptions {
  // Fraction of the dense latency to remove, in (0, 1).
  double target_reduction = 0.3;
  // The MAC targets searched: [min, max]. min is a floor the user asked
  // for (target_flops_reduction); max is where the search gives up.
  double min_flops_reduction = 0.0;
  double max_flops_reduction = 0.95;
  // Bisection steps after the first probe at max (each one prunes a clone
  // and times it).
  int iterations = 7;
};

struct LatencySearchResult {
  // The MAC target chosen: the smallest probed one that met the latency
  // target, or max_flops_reduction (or the largest reachable one) when none
  // did.
  double flops_reduction = 0.0;
  bool reached = false;
  // The dense and the pruned clone of the chosen probe, timed together.
  double dense_ms = 0.0;
  double pruned_ms = 0.0;
  // Pruned clones timed.
  int probes = 0;
};

// Returns the plan's keep masks for a MAC target; OutOfRange when the
// target cannot be reached (the search then tries lower ones).
using MasksForFlopsTarget =
    std::function<absl::StatusOr<KeepMasks>(double flops_reduction)>;

// Bisects the MAC target between the options' bounds on latency measured by
// `meter`. `module` is only cloned, never changed. Fails with what the
// masks callback, the analysis of a clone or the meter fail with, and with
// OutOfRange when no MAC target in range has a plan.
absl::StatusOr<LatencySearchResult> SearchFlopsForLatency(
    const torch::jit::Module& module, const std::vector<int64_t>& input_shape,
    const MasksForFlopsTarget& masks_for, LatencyMeter& meter,
    const LatencySearchOptions& options);

}  // namespace pruneserve::pruning

#endif  // PRUNESERVE_CORE_PRUNING_LATENCY_SEARCH_H_
