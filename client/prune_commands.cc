#include "client/prune_commands.h"

#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/output_format.h"
#include "core/data/dataset_spec.h"
#include "core/data/prefetching_loader.h"
#include "core/pruning/pruning_engine.h"
#include "core/pruning/pruning_report.h"

namespace pruneserve::client {
namespace {

struct PruneArgs {
  bool local = false;
  std::string model;
  std::string out;
  std::string input_shape;
  std::string policy = "refined";
  std::string criterion = "bn_gamma";
  std::string calib;
  int64_t calib_images = 256;
  int64_t calib_batch = 64;
  double ratio = 0.5;
  double threshold = 0.0;
  double target_flops = 0.5;
  int64_t round_to = 1;
  int64_t min_channels = 2;
  double min_sparsity = 0.1;
  bool no_halving = false;
  bool prune_residual_stream = false;
  std::vector<std::string> exclude;
  uint64_t seed = 0;
};

absl::StatusOr<std::vector<int64_t>> ParseDims(const std::string& text) {
  std::vector<int64_t> dims;
  for (absl::string_view part : absl::StrSplit(text, absl::ByAnyChar(",x"))) {
    int64_t d = 0;
    if (!absl::SimpleAtoi(part, &d) || d <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--input-shape \"", text, "\" is not like 1,3,32,32"));
    }
    dims.push_back(d);
  }
  if (dims.size() != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("--input-shape \"", text, "\" must have 4 dims (NCHW)"));
  }
  return dims;
}

// A calibration loader for `spec` producing images of `shape` [N,C,H,W].
absl::StatusOr<std::unique_ptr<data::BatchSource>> OpenCalibration(
    const PruneArgs& a, const std::vector<int64_t>& shape) {
  auto spec = data::ParseDatasetSpec(a.calib);
  if (!spec.ok()) return spec.status();
  data::OpenOptions open;
  open.limit = a.calib_images;
  open.image_folder_channels = shape[1] == 1 ? 1 : 3;
  auto dataset = data::OpenDataset(*spec, open);
  if (!dataset.ok()) return dataset.status();
  data::FormatDefaults defaults = data::DefaultsFor(spec->format);
  data::LoaderOptions loader;
  loader.batch_size = a.calib_batch;
  loader.seed = a.seed;
  loader.transform.channels = shape[1];
  if (shape[2] != defaults.image_size) loader.transform.resize = shape[2];
  loader.transform.mean = defaults.mean;
  loader.transform.std = defaults.std;
  if (shape[1] != defaults.channels && defaults.mean.size() > 1) {
    loader.transform.mean.resize(1);
    loader.transform.std.resize(1);
  }
  auto source = data::PrefetchingLoader::Create(*dataset, loader);
  if (!source.ok()) return source.status();
  return std::unique_ptr<data::BatchSource>(std::move(*source));
}

}  // namespace

void RegisterPruneCommands(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand(
      "prune", "Prune a TorchScript CNN with layer-wise refined pruning.");
  auto a = std::make_shared<PruneArgs>();
  cmd->add_flag("--local", a->local,
                "Run the engine in this process (no server)")
      ->required();
  cmd->add_option("model", a->model, "TorchScript archive to prune")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("-o,--out", a->out, "Output TorchScript file")->required();
  cmd->add_option("--input-shape", a->input_shape,
                  "Example input NCHW, e.g. 1,1,28,28")
      ->required();
  cmd->add_option("--policy", a->policy,
                  "refined | uniform | global_threshold | threshold | "
                  "target_flops")
      ->capture_default_str();
  cmd->add_option("--criterion", a->criterion,
                  "bn_gamma | l1 | l2 | apoz | random")
      ->capture_default_str();
  cmd->add_option("--calib", a->calib,
                  "Calibration data set, e.g. "
                  "fashion-mnist:/usr/share/datasets/fashion-mnist:train "
                  "(needed by refined, target_flops and apoz)");
  cmd->add_option("--calib-images", a->calib_images,
                  "Calibration images to read")
      ->capture_default_str();
  cmd->add_option("--ratio", a->ratio,
                  "uniform / global_threshold: fraction of channels removed")
      ->capture_default_str();
  cmd->add_option("--threshold", a->threshold,
                  "threshold: remove channels with importance <= this")
      ->capture_default_str();
  cmd->add_option("--target-flops", a->target_flops,
                  "target_flops: fraction of MACs to remove")
      ->capture_default_str();
  cmd->add_option("--round-to", a->round_to,
                  "Round kept channels up to a multiple of this")
      ->capture_default_str();
  cmd->add_option("--min-channels", a->min_channels,
                  "Channels every layer keeps at least")
      ->capture_default_str();
  cmd->add_option("--min-sparsity", a->min_sparsity,
                  "refined: leave layers whose input sparsity is below this")
      ->capture_default_str();
  cmd->add_flag("--no-halving-cap", a->no_halving,
                "refined: do not halve ratios >= 0.5");
  cmd->add_flag("--prune-residual-stream", a->prune_residual_stream,
                "Also prune the residual stream, stem and shortcuts");
  cmd->add_option("--exclude", a->exclude,
                  "Layer names or regexes to leave alone (repeatable)");
  cmd->add_option("--seed", a->seed, "Seed (random criterion, data order)")
      ->capture_default_str();
  cmd->callback([&ctx, a] {
    auto shape = ParseDims(a->input_shape);
    if (!ctx.Check(shape.status())) return;
    pruning::PruningOptions options;
    options.criterion = a->criterion;
    options.seed = a->seed;
    auto kind = pruning::ParsePolicyKind(a->policy);
    if (!ctx.Check(kind.status())) return;
    options.policy.kind = *kind;
    options.policy.ratio = a->ratio;
    options.policy.threshold = a->threshold;
    options.policy.target_flops_reduction = a->target_flops;
    options.policy.round_to = a->round_to;
    options.policy.min_channels = a->min_channels;
    options.policy.min_sparsity = a->min_sparsity;
    options.policy.halving_cap = !a->no_halving;
    options.policy.prune_residual_stream = a->prune_residual_stream;
    options.policy.exclude = a->exclude;
    options.probe.max_examples = a->calib_images;
    std::unique_ptr<data::BatchSource> calibration;
    if (!a->calib.empty()) {
      auto source = OpenCalibration(*a, *shape);
      if (!ctx.Check(source.status())) return;
      calibration = *std::move(source);
    }
    auto report = pruning::PruneTorchScriptFile(a->model, a->out, *shape,
                                                options, calibration.get());
    if (!ctx.Check(report.status())) return;
    if (ctx.json) {
      std::printf("%s\n", ToJson(*report).c_str());
    } else {
      std::printf("%s", pruning::RenderPruningReport(*report).c_str());
      std::printf("wrote %s\n", a->out.c_str());
    }
  });
}

}  // namespace pruneserve::client
