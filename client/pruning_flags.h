// The pruning, fine-tuning and data flags that `prunectl job submit` and
// `prunectl prune --local` share, and their mapping onto a
// pruneserve.v1.JobSpec. Unset flags stay zero, so the spec's documented
// defaults (filled in by jobs::ResolveJobSpec) apply to both commands alike.
#ifndef PRUNESERVE_CLIENT_PRUNING_FLAGS_H_
#define PRUNESERVE_CLIENT_PRUNING_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "pruneserve/v1/pruning_jobs.pb.h"

namespace pruneserve::client {

// Flag values as parsed; zero/empty means "the spec's default".
struct PruningFlags {
  std::string input_shape;
  // Data sets and how much of them to read.
  std::string train, eval, calib;
  int64_t train_limit = 0, eval_limit = 0, calib_images = 0;
  bool augment = false;
  // Pruning policy.
  std::string policy;
  std::string criterion;
  double ratio = 0.0;
  double threshold = 0.0;
  double target_flops = 0.0;
  double target_params = 0.0;
  double target_latency = 0.0;
  int64_t round_to = 0;
  int64_t min_channels = 0;
  double min_sparsity = 0.0;
  bool no_halving_cap = false;
  std::string refined_rule;
  bool prune_residual_stream = false;
  bool sparsity_before_pooling = false;
  bool cumulative_halving = false;
  std::vector<std::string> exclude;
  // Fine-tuning and rounds.
  int64_t epochs = 0;
  double lr = 0.0;
  int64_t batch_size = 0;
  double label_smoothing = 0.0;
  // 0: the server's defaults (with distill only).
  double distill_alpha = 0.0;
  double distill_temperature = 0.0;
  bool distill = false;
  int rounds = 0;
  int steps = 0;
  double target_params_reduction = 0.0;
  double target_flops_reduction = 0.0;
  double max_accuracy_drop = 0.0;
  uint64_t seed = 0;
};

// Registers the shared flags on `cmd`, bound to `flags` (which must outlive
// parsing). `where` names where data-set paths are read ("on the server" or
// "here") in the help text.
void AddPruningFlags(CLI::App* cmd, PruningFlags& flags,
                     const std::string& where);

// Writes the flags into `spec` (data, pruning, finetune, rounds, targets,
// seed and input shape); other fields are left alone. INVALID_ARGUMENT when
// --input-shape is not a comma- or x-separated list of integers. Range
// checks are ResolveJobSpec's.
absl::Status ApplyPruningFlags(const PruningFlags& flags, v1::JobSpec& spec);

}  // namespace pruneserve::client

#endif  // PRUNESERVE_CLIENT_PRUNING_FLAGS_H_
