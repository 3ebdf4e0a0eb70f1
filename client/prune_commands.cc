// `prunectl prune --local`: prunes a TorchScript file in this process. With
// --train it runs the whole prune -> fine-tune -> evaluate pipeline (rounds,
// early stop on reduction targets or accuracy drop) and prints the
// before/after table; without it, it prunes once and prints the per-layer
// report.
#include "client/prune_commands.h"

#include <torch/script.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/output_format.h"
#include "core/data/source_factory.h"
#include "core/pipeline/pipeline_report.h"
#include "core/pipeline/pruning_pipeline.h"
#include "core/pruning/pruning_engine.h"
#include "core/pruning/pruning_report.h"
#include "core/util/torch_status.h"

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
  // Fine-tuning pipeline (active when `train` is set).
  std::string train;
  std::string eval;
  int64_t train_limit = 0;
  int64_t eval_limit = 0;
  int64_t epochs = 50;
  int rounds = 1;
  double lr = 0.01;
  int64_t batch_size = 20;
  double target_params_reduction = 0.0;
  double target_flops_reduction = 0.0;
  double max_accuracy_drop = -1.0;
  int threads = 0;
  int loader_threads = 2;
  std::string checkpoint_dir;
  bool augment = false;
  bool quiet = false;
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

using SourceSpec = data::SourceOptions;

// Prints one line per second at most while the pipeline works.
pipeline::PipelineProgressCallback ProgressPrinter() {
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  return [last](const pipeline::PipelineProgress& p) {
    const auto now = std::chrono::steady_clock::now();
    const bool phase_end = p.steps_per_epoch > 0 && p.step == p.steps_per_epoch;
    if (!phase_end && now - *last < std::chrono::seconds(1)) return;
    *last = now;
    std::fprintf(
        stderr,
        "[round %d/%d] %-8s epoch %lld/%lld step %lld/%lld "
        "loss %.4f acc %.2f%% %.0f img/s eta %.0fs\n",
        p.round + 1, p.num_rounds, pipeline::PipelinePhaseName(p.phase),
        static_cast<long long>(p.epoch + 1),
        static_cast<long long>(p.num_epochs), static_cast<long long>(p.step),
        static_cast<long long>(p.steps_per_epoch), p.loss, p.accuracy * 100.0,
        p.images_per_second, p.eta_seconds);
  };
}

// The --train path: load, run the pipeline, save, print.
absl::Status RunPipeline(const PruneArgs& a, const std::vector<int64_t>& shape,
                         const pruning::PruningOptions& pruning_options,
                         bool json) {
  torch::jit::Module model;
  try {
    model = torch::jit::load(a.model);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, absl::StrCat("loading ", a.model));
  }
  SourceSpec train_spec{a.train,   a.train_limit, a.batch_size,    true,
                        a.augment, a.seed,        a.loader_threads};
  auto train = data::OpenBatchSource(train_spec, shape);
  if (!train.ok()) return train.status();
  std::unique_ptr<data::BatchSource> eval;
  if (!a.eval.empty()) {
    SourceSpec eval_spec{a.eval, a.eval_limit,    256, false, false,
                         a.seed, a.loader_threads};
    auto opened = data::OpenBatchSource(eval_spec, shape);
    if (!opened.ok()) return opened.status();
    eval = *std::move(opened);
  }
  std::unique_ptr<data::BatchSource> calibration;
  if (!a.calib.empty()) {
    SourceSpec calib_spec{a.calib, a.calib_images, a.calib_batch,   false,
                          false,   a.seed,         a.loader_threads};
    auto opened = data::OpenBatchSource(calib_spec, shape);
    if (!opened.ok()) return opened.status();
    calibration = *std::move(opened);
  }

  pipeline::PipelineOptions options;
  options.input_shape = shape;
  options.pruning = pruning_options;
  options.rounds = a.rounds;
  options.calibration_examples = a.calib_images;
  options.target_params_reduction = a.target_params_reduction;
  options.target_flops_reduction = a.target_flops_reduction;
  options.max_top1_drop = a.max_accuracy_drop;
  options.finetune.epochs = a.epochs;
  options.finetune.sgd.learning_rate = a.lr;
  options.finetune.num_threads = a.threads;
  options.finetune.seed = a.seed;
  options.finetune.checkpoint_dir = a.checkpoint_dir;
  if (!a.quiet) options.progress = ProgressPrinter();
  auto runner = pipeline::PruningPipeline::Create(options);
  if (!runner.ok()) return runner.status();
  auto result =
      (*runner)->Run(model, {train->get(), eval.get(), calibration.get()});
  if (!result.ok()) return result.status();
  try {
    result->module.save(a.out);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, absl::StrCat("saving ", a.out),
                              absl::StatusCode::kInternal);
  }
  if (json) {
    std::printf("%s\n", ToJson(result->report).c_str());
  } else {
    for (const v1::PipelineRound& round : result->report.rounds()) {
      std::printf("round %d:\n%s", round.round(),
                  pruning::RenderPruningReport(round.pruning()).c_str());
    }
    std::printf("%s", pipeline::RenderPipelineReport(result->report).c_str());
    std::printf("wrote %s\n", a.out.c_str());
  }
  return absl::OkStatus();
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
  cmd->add_option("--train", a->train,
                  "Fine-tuning data set; turns on the prune -> fine-tune "
                  "pipeline (also the calibration data unless --calib)");
  cmd->add_option("--eval", a->eval,
                  "Evaluation data set for top-1/top-5 before and after");
  cmd->add_option("--train-limit", a->train_limit,
                  "Use only the first N training images (0 = all)")
      ->capture_default_str();
  cmd->add_option("--eval-limit", a->eval_limit,
                  "Use only the first N evaluation images (0 = all)")
      ->capture_default_str();
  cmd->add_option("--epochs", a->epochs, "Fine-tuning epochs per round")
      ->capture_default_str();
  cmd->add_option("--rounds", a->rounds, "Prune -> fine-tune rounds at most")
      ->capture_default_str();
  cmd->add_option("--lr", a->lr,
                  "Fine-tuning base learning rate (SGD, "
                  "Nesterov, cosine warm restarts)")
      ->capture_default_str();
  cmd->add_option("--batch-size", a->batch_size, "Fine-tuning batch size")
      ->capture_default_str();
  cmd->add_flag("--augment", a->augment,
                "Random crop (padding 2) and flip on the training data");
  cmd->add_option("--target-params-reduction", a->target_params_reduction,
                  "Stop once this fraction of parameters is gone (0 = off)")
      ->capture_default_str();
  cmd->add_option("--target-flops-reduction", a->target_flops_reduction,
                  "Stop once this fraction of FLOPs is gone (0 = off)")
      ->capture_default_str();
  cmd->add_option("--max-accuracy-drop", a->max_accuracy_drop,
                  "Stop when top-1 falls more than this fraction below the "
                  "baseline (e.g. 0.01; < 0 = off)")
      ->capture_default_str();
  cmd->add_option("--threads", a->threads,
                  "LibTorch intra-op threads (0 = leave as is)")
      ->capture_default_str();
  cmd->add_option("--loader-threads", a->loader_threads,
                  "Background decoding threads per data loader")
      ->capture_default_str();
  cmd->add_option("--checkpoint-dir", a->checkpoint_dir,
                  "Per-epoch fine-tuning checkpoints (resumable)");
  cmd->add_flag("-q,--quiet", a->quiet, "No progress lines on stderr");
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
    if (!a->train.empty()) {
      ctx.Check(RunPipeline(*a, *shape, options, ctx.json));
      return;
    }
    std::unique_ptr<data::BatchSource> calibration;
    if (!a->calib.empty()) {
      SourceSpec calib_spec{
          a->calib, a->calib_images, a->calib_batch, false, false, a->seed, 2};
      auto source = data::OpenBatchSource(calib_spec, *shape);
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
