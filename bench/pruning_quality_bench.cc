// Pruning quality on Fashion-MNIST: trains dense baselines of VGG13-BN, a
// CIFAR-style ResNet-56 and MobileNetV2 (1x28x28 input), prunes each with
// every method to the same FLOPs points (default 50 % and 80 % of MACs
// removed) and fine-tunes every result with the same budget (the paper's
// SGD + cosine warm restarts schedule, same epochs, same batch size):
//
//   budgeted        the engine's defaults: measured damage per group (BN
//                   |gamma| ranking, every BatchNorm on the calibration
//                   batch's statistics) in three stages, the damage measured
//                   again after each with the channels chosen so far taken
//                   out; ratios allocated to the target with the least total
//                   damage
//   budgeted_x1     the same with one measurement on the dense model
//   budgeted_running one measurement with the running statistics (the
//                   policy's first default)
//   budgeted_steps2 a progressive schedule: two prune -> fine-tune steps,
//                   half the target and half the epochs each
//   budgeted_kd     budgeted, fine-tuned with distillation from the dense
//                   model (alpha 0.5, temperature 4)
//   budgeted_wt     budgeted with a weights target equal to the point as
//                   well: both fractions must be removed
//   budgeted_l1     budgeted, channels ranked by filter L1 norm
//   budgeted_wt_l1  both targets, channels ranked by filter L1 norm
//   budgeted_wt_kd  both targets, fine-tuned with distillation
//   budgeted_kl     budgeted, damage as the KL divergence of the outputs
//                   from the measured model's, the dense one or what the
//                   earlier stages left (sensitivity_output_divergence)
//   budgeted_cap75  budgeted, no group losing more than 75 % of its
//                   channels (max_group_ratio)
//   refined         the paper's ratios (BN |gamma|, layer ratio = measured
//                   input sparsity), scaled to the target (target_flops)
//   refined_prepool the same with pooled-input layers measured before the
//                   pool (--sparsity-before-pooling)
//   refined_x3      refined in a progressive schedule of three prune ->
//                   fine-tune steps (the halving cap applied each round)
//   refined_x3_cum  the same with the cap applied to each layer's removal
//                   over the three rounds (--cumulative-halving)
//   l1+uniform      Li et al.: L1 filter norm, one ratio for every layer
//   l1+uniform_kd   the same, fine-tuned with distillation
//   slimming        Network Slimming: BN |gamma|, one global threshold
//   random          random channels, one ratio for every layer
//   global_norm     Torch-Pruning's group-normalised global ranking (L2
//                   norms divided by their group mean, one threshold)
//   lamp            LAMP scores of the L2 norms, one threshold
//
// Policies with a target (budgeted, refined, global_norm, lamp) are asked
// for the point; the others' ratio or global fraction is bisected on the
// pruning plan's MAC estimate until the reduction equals the point to
// channel granularity. The table's -FLOPs column is the measured reduction.
// Every method may prune ResNet-56's residual stream and stem (the engine's
// default keeps them, and then 80 % is out of reach).
//
// --seeds N repeats everything with N seeds (model initialisation and
// training data order); the summary gives mean +- standard error of the
// top-1 drop for every method and point, and the paired difference of the
// reference method (--reference NAME, default budgeted) to each other
// method: "won" or "lost" where it exceeds two standard errors of the
// difference, else "tied". Not a test: nothing here decides
// pass/fail.
//
// Modes (batch 64, 256 calibration images, fine-tuning lr 0.01, width 0.25
// of the paper's channel counts, which keeps a 2-core machine in the loop):
//   --quick   3000 train / 1000 test images, 3 baseline epochs (lr 0.05),
//             1 fine-tuning epoch.
//   --medium  12000 train / 10000 test images, 6 baseline epochs (lr 0.1),
//             2 fine-tuning epochs.
//   --full    (the default) all 60000 / 10000 images, 10 baseline epochs
//             (lr 0.1), 4 fine-tuning epochs.
// Running times are in docs/pruning_quality.md. Any mode takes --width W
// and --finetune-epochs N.
// Flags: --data DIR (default /usr/share/datasets/fashion-mnist),
//        --threads N (default 2), --width W, --finetune-epochs N, --models
//        vgg13_bn,resnet56,mobilenet_v2, --points 0.5,0.8, --seeds N,
//        --methods NAME,... (a subset), --json FILE (every row, the
//        aggregates and the configuration), --first-seed K (seeds K..K+N-1,
//        so one run can be extended by another), --merge A.json,B.json
//        (no training: the summary over the rows of earlier --json runs,
//        which must share every setting but the seeds), --reference NAME
//        (the method the verdicts are about), --baseline-cache
//        DIR (a trained baseline is saved there as TorchScript, named by
//        every setting that shapes it, and loaded instead of retrained by
//        any later run that asks for the same one: a full-mode VGG13-BN
//        baseline at width 0.5 is 22 of a two-method row pair's 28 min).
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/data/dataset_spec.h"
#include "core/data/prefetching_loader.h"
#include "core/models/model_zoo.h"
#include "core/pipeline/pipeline_report.h"
#include "core/pipeline/pruning_pipeline.h"
#include "core/pruning/channel_dependency_graph.h"
#include "core/pruning/importance_criterion.h"
#include "core/pruning/module_surgery.h"
#include "core/pruning/ratio_policy.h"
#include "core/training/trainer.h"
#include "core/util/allocator_pages.h"

namespace {

namespace pl = pruneserve::pipeline;
namespace pp = pruneserve::pruning;
namespace pt = pruneserve::training;
namespace pd = pruneserve::data;

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct BenchConfig {
  std::string mode = "full";
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  int threads = 2;
  std::vector<std::string> models = {"vgg13_bn", "resnet56", "mobilenet_v2"};
  int64_t train_limit = 0;
  int64_t eval_limit = 0;
  double width = 0.25;
  int64_t baseline_epochs = 10;
  double baseline_lr = 0.1;
  int64_t finetune_epochs = 4;
  double finetune_lr = 0.01;
  int64_t batch_size = 64;
  int64_t calibration = 256;
  int seeds = 1;
  int first_seed = 0;
  // Earlier --json outputs to summarise instead of running.
  std::vector<std::string> merge;
  std::vector<double> points = {0.5, 0.8};
  std::vector<std::string> methods;  // empty: all
  std::string json_path;
  // The method every other is compared with (paired differences, verdicts).
  std::string reference = "budgeted";
  // When set, trained dense baselines are kept here and reused by later
  // runs with the same settings (see BaselineCachePath).
  std::string baseline_cache;
};

// The 1-, 5- and 15-minute load averages, or empty when unreadable.
std::vector<double> LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::vector<double> load(3, 0.0);
  if (!(in >> load[0] >> load[1] >> load[2])) return {};
  return load;
}

std::string LoadText(const std::vector<double>& load) {
  if (load.size() != 3) return "unknown";
  return absl::StrFormat("%.2f %.2f %.2f", load[0], load[1], load[2]);
}

std::unique_ptr<pd::BatchSource> Open(const BenchConfig& c,
                                      const std::string& split, int64_t limit,
                                      bool shuffle, uint64_t seed) {
  auto spec = pd::ParseDatasetSpec("fashion-mnist:" + c.data_dir + ":" + split);
  if (!spec.ok()) return nullptr;
  pd::OpenOptions open;
  open.limit = limit;
  auto dataset = pd::OpenDataset(*spec, open);
  if (!dataset.ok()) {
    std::fprintf(stderr, "%s\n", dataset.status().ToString().c_str());
    return nullptr;
  }
  pd::FormatDefaults d = pd::DefaultsFor(spec->format);
  pd::LoaderOptions loader;
  loader.batch_size = shuffle ? c.batch_size : 256;
  loader.shuffle = shuffle;
  loader.seed = seed;
  loader.num_threads = 1;
  loader.transform.channels = 1;
  loader.transform.mean = d.mean;
  loader.transform.std = d.std;
  auto source = pd::PrefetchingLoader::Create(*dataset, loader);
  if (!source.ok()) return nullptr;
  return std::move(*source);
}

// A uniform ratio or global-threshold fraction and the MAC reduction the
// pruning plan estimates for it.
struct MatchedRatio {
  double ratio = 0.0;
  double estimated_reduction = 0.0;
};

// Bisects the `kind` policy's ratio (uniform or global_threshold) with the
// `criterion` scores of `model` until the estimated MAC reduction is as close
// to `target` as channel granularity allows. The plan is the one the
// pruning engine builds for the same options and seed, so the pipeline run
// with the returned ratio removes the same channels.
absl::StatusOr<MatchedRatio> MatchFlops(const torch::jit::Module& model,
                                        const std::vector<int64_t>& shape,
                                        const std::string& criterion_name,
                                        pp::PolicyKind kind, uint64_t seed,
                                        double target) {
  auto graph = pp::ChannelDependencyGraph::Build(model, shape);
  if (!graph.ok()) return graph.status();
  auto criterion = pp::MakeCriterion(criterion_name);
  if (!criterion.ok()) return criterion.status();
  pp::CriterionContext context{graph->get(), nullptr, seed};
  const auto& groups = (*graph)->groups();
  std::vector<std::vector<double>> scores(groups.size());
  std::vector<std::string> errors(groups.size());
  for (const pp::ChannelGroup& g : groups) {
    if (!g.prunable) continue;
    auto s = (*criterion)->Score(g, context);
    if (s.ok()) {
      scores[g.id] = std::move(*s);
    } else {
      errors[g.id] = std::string(s.status().message());
    }
  }
  const double macs0 =
      static_cast<double>(pp::EstimateMacs(**graph, pp::KeepAll(**graph)));
  if (macs0 <= 0) return absl::InternalError("model has no MACs");
  pp::PolicyOptions policy;
  policy.kind = kind;
  policy.prune_residual_stream = true;
  // A plan that fails reads as reduction 1; the first such error is what
  // MatchFlops returns, whatever the bisection found.
  absl::Status error;
  auto reduction = [&](double ratio) {
    policy.ratio = ratio;
    auto plan = pp::PlanPruning(**graph, scores, errors, nullptr, policy);
    if (!plan.ok()) {
      if (error.ok()) error = plan.status();
      return 1.0;
    }
    return 1.0 - pp::EstimateMacs(**graph, plan->masks()) / macs0;
  };
  constexpr double kMostRatio = 0.99;
  const double most = reduction(kMostRatio);
  if (!error.ok()) return error;
  if (most < target) return MatchedRatio{kMostRatio, most};
  const auto [ratio, got] =
      pp::BisectToTarget(reduction, 0.0, kMostRatio, target);
  if (!error.ok()) return error;
  return MatchedRatio{ratio, got};
}

struct Method {
  std::string name;
  std::string criterion;
  pp::PolicyKind policy;
  // budgeted: measurement stages (PolicyOptions::sensitivity_stages).
  int stages = pp::PolicyOptions{}.sensitivity_stages;
  // > 1: a progressive schedule of this many prune -> fine-tune steps, the
  // fine-tuning epochs split evenly between them (skipped when there are
  // fewer epochs than steps).
  int steps = 1;
  // Distil from the dense model while fine-tuning.
  bool distill = false;
  // refined: sparsity of pooled-input layers measured before the pool.
  bool before_pooling = false;
  // budgeted: the point is also a weights target.
  bool weights_target = false;
  // refined: the halving cap on the cumulative removal over rounds.
  bool cumulative_halving = false;
  // budgeted: damage measured with BatchNorm batch statistics.
  bool batch_statistics = pp::PolicyOptions{}.sensitivity_batch_statistics;
  // budgeted: damage as KL divergence from the measured model's outputs.
  bool output_divergence = pp::PolicyOptions{}.sensitivity_output_divergence;
  // budgeted: the most of a group's channels that may go.
  double max_group_ratio = pp::PolicyOptions{}.max_group_ratio;
};

// Every method of the comparison; budgeted first (the others are compared
// with it).
const std::vector<Method>& AllMethods() {
  const Method budgeted{"budgeted", "bn_gamma", pp::PolicyKind::kBudgeted};
  const Method refined{"refined", "bn_gamma", pp::PolicyKind::kTargetFlops};
  const Method l1_uniform{"l1+uniform", "l1", pp::PolicyKind::kUniform};
  // `base` renamed, with the fields `set` names changed (rather than every
  // field listed up to the last one that differs).
  auto variant = [](Method m, const char* name, auto set) {
    m.name = name;
    set(m);
    return m;
  };
  static const std::vector<Method>* methods = new std::vector<Method>{
      budgeted,
      variant(budgeted, "budgeted_x1", [](Method& m) { m.stages = 1; }),
      variant(budgeted, "budgeted_steps2", [](Method& m) { m.steps = 2; }),
      variant(budgeted, "budgeted_kd", [](Method& m) { m.distill = true; }),
      variant(budgeted, "budgeted_wt",
              [](Method& m) { m.weights_target = true; }),
      variant(budgeted, "budgeted_running",
              [](Method& m) {
                m.stages = 1;
                m.batch_statistics = false;
              }),
      variant(budgeted, "budgeted_l1", [](Method& m) { m.criterion = "l1"; }),
      variant(budgeted, "budgeted_wt_l1",
              [](Method& m) {
                m.weights_target = true;
                m.criterion = "l1";
              }),
      variant(budgeted, "budgeted_wt_kd",
              [](Method& m) {
                m.weights_target = true;
                m.distill = true;
              }),
      variant(budgeted, "budgeted_kl",
              [](Method& m) { m.output_divergence = true; }),
      variant(budgeted, "budgeted_cap75",
              [](Method& m) { m.max_group_ratio = 0.75; }),
      refined,
      variant(refined, "refined_prepool",
              [](Method& m) { m.before_pooling = true; }),
      variant(refined, "refined_x3", [](Method& m) { m.steps = 3; }),
      variant(refined, "refined_x3_cum",
              [](Method& m) {
                m.steps = 3;
                m.cumulative_halving = true;
              }),
      l1_uniform,
      variant(l1_uniform, "l1+uniform_kd", [](Method& m) { m.distill = true; }),
      {"slimming", "bn_gamma", pp::PolicyKind::kGlobalThreshold},
      {"random", "random", pp::PolicyKind::kUniform},
      {"global_norm", "l2", pp::PolicyKind::kGlobalNormalized},
      {"lamp", "l2", pp::PolicyKind::kLamp},
  };
  return *methods;
}

struct Row {
  std::string model;
  std::string method;
  int seed = 0;
  // The FLOPs point asked for.
  double point = 0.0;
  int64_t finetune_epochs = 0;
  // The uniform ratio or global fraction found by bisection, the
  // target_flops scale or the global policies' fraction; negative when the
  // policy has none (budgeted).
  double knob = -1.0;
  double seconds = 0.0;
  // Pruning (analysis, measurements, surgery) alone.
  double prune_seconds = 0.0;
  pruneserve::v1::PipelineReport report;
  std::string error;
};

void PrintHeader() {
  std::printf(
      "| model | seed | point | method | knob | params | -params | FLOPs | "
      "-FLOPs | top1 base | top1 pruned | top1 tuned | drop | prune | time "
      "|\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
}

void PrintRow(const Row& r) {
  if (!r.error.empty()) {
    std::printf("| %s | %d | %.2f | %s | error: %s |\n", r.model.c_str(),
                r.seed, r.point, r.method.c_str(), r.error.c_str());
    return;
  }
  const auto& p = r.report;
  const auto& last = p.rounds(p.rounds_size() - 1);
  const std::string knob = r.knob < 0 ? "-" : absl::StrFormat("%.3f", r.knob);
  std::printf(
      "| %s | %d | %.2f | %s | %s | %s | %.1f%% | %s | %.1f%% | %.2f%% | "
      "%.2f%% | %.2f%% | %+.2f | %.1fs | %.0fs |\n",
      r.model.c_str(), r.seed, r.point, r.method.c_str(), knob.c_str(),
      pl::HumanCount(p.final().params()).c_str(), p.params_reduction() * 100,
      pl::HumanCount(p.final().flops()).c_str(), p.flops_reduction() * 100,
      p.baseline().top1_accuracy() * 100,
      last.after_prune().top1_accuracy() * 100, p.final().top1_accuracy() * 100,
      p.top1_drop() * 100, r.prune_seconds, r.seconds);
}

// Each pruned layer's channels before the first round and after the last,
// in the order of the first round's report.
std::vector<std::tuple<std::string, int64_t, int64_t>> KeptChannels(
    const pruneserve::v1::PipelineReport& p) {
  std::vector<std::tuple<std::string, int64_t, int64_t>> kept;
  if (p.rounds_size() == 0) return kept;
  std::map<std::string, int64_t> last;
  for (const auto& l : p.rounds(p.rounds_size() - 1).pruning().layers()) {
    last[l.name()] = l.channels_after();
  }
  for (const auto& l : p.rounds(0).pruning().layers()) {
    if (!l.skip_reason().empty()) continue;
    auto it = last.find(l.name());
    kept.emplace_back(l.name(), l.channels_before(),
                      it == last.end() ? l.channels_after() : it->second);
  }
  return kept;
}

// "16>2 16>3 32>6 ..." for the table below the main one.
std::string KeptChannelsText(const Row& r) {
  if (!r.error.empty()) return "-";
  std::vector<std::string> parts;
  for (const auto& [layer, before, after] : KeptChannels(r.report)) {
    parts.push_back(absl::StrCat(before, ">", after));
  }
  return absl::StrJoin(parts, " ");
}

nlohmann::json RowJson(const Row& r) {
  nlohmann::json j = {{"model", r.model},
                      {"method", r.method},
                      {"seed", r.seed},
                      {"point", r.point},
                      {"finetune_epochs", r.finetune_epochs},
                      {"seconds", r.seconds},
                      {"prune_seconds", r.prune_seconds}};
  if (r.knob >= 0) j["knob"] = r.knob;
  if (!r.error.empty()) {
    j["error"] = r.error;
    return j;
  }
  const auto& p = r.report;
  j["params_before"] = p.baseline().params();
  j["params_after"] = p.final().params();
  j["flops_before"] = p.baseline().flops();
  j["flops_after"] = p.final().flops();
  j["params_reduction"] = p.params_reduction();
  j["flops_reduction"] = p.flops_reduction();
  j["top1_baseline"] = p.baseline().top1_accuracy();
  j["top1_after_prune"] =
      p.rounds(p.rounds_size() - 1).after_prune().top1_accuracy();
  j["top1_final"] = p.final().top1_accuracy();
  j["top1_drop"] = p.top1_drop();
  j["channels"] = nlohmann::json::array();
  for (const auto& [layer, before, after] : KeptChannels(p)) {
    j["channels"].push_back(
        {{"layer", layer}, {"before", before}, {"after", after}});
  }
  return j;
}

// Parses the flags into `c` and applies the mode. Returns the exit code
// when main should stop (2 on a bad flag, 0 after --help).
std::optional<int> ParseArgs(int argc, char** argv, BenchConfig* c) {
  // Explicit --width / --finetune-epochs win over the mode's values.
  double width = 0.0;
  int64_t finetune_epochs = 0;
  CLI::App app{"Pruning quality benchmark on Fashion-MNIST."};
  auto* quick = app.add_flag_callback(
      "--quick", [c] { c->mode = "quick"; }, "A few minutes per model");
  auto* medium = app.add_flag_callback(
      "--medium", [c] { c->mode = "medium"; }, "A subset, a few epochs");
  auto* full = app.add_flag_callback(
      "--full", [c] { c->mode = "full"; }, "Everything (the default)");
  quick->excludes(medium)->excludes(full);
  medium->excludes(full);
  app.add_option("--width", width, "Width multiplier (overrides the mode)")
      ->check(CLI::Range(0.0, 4.0) & CLI::PositiveNumber);
  app.add_option("--finetune-epochs", finetune_epochs,
                 "Fine-tuning epochs of every row (overrides the mode)")
      ->check(CLI::PositiveNumber);
  app.add_option("--data", c->data_dir, "Fashion-MNIST directory")
      ->capture_default_str();
  app.add_option("--threads", c->threads, "LibTorch intra-op threads")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--seeds", c->seeds,
                 "Repetitions with different initialisation and data order")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--first-seed", c->first_seed,
                 "First seed (a run with --seeds N uses K..K+N-1)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--merge", c->merge,
                 "Summarise the rows of earlier --json runs, comma-separated")
      ->delimiter(',')
      ->check(CLI::ExistingFile);
  app.add_option("--points", c->points,
                 "FLOPs reductions to compare at, comma-separated")
      ->delimiter(',')
      ->check(CLI::Range(0.01, 0.99))
      ->capture_default_str();
  std::vector<std::string> names;
  for (const Method& m : AllMethods()) names.push_back(m.name);
  app.add_option("--methods", c->methods,
                 "Methods to run, comma-separated (default: all)")
      ->delimiter(',')
      ->check(CLI::IsMember(names));
  app.add_option("--models", c->models, "Architectures, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--json", c->json_path, "Also write the rows to FILE");
  app.add_option("--reference", c->reference,
                 "Method the others are compared with")
      ->check(CLI::IsMember(names))
      ->capture_default_str();
  app.add_option("--baseline-cache", c->baseline_cache,
                 "Keep trained baselines in DIR and reuse them")
      ->check(CLI::ExistingDirectory);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (c->mode == "quick") {
    c->train_limit = 3000;
    c->eval_limit = 1000;
    c->baseline_epochs = 3;
    c->baseline_lr = 0.05;
    c->finetune_epochs = 1;
  } else if (c->mode == "medium") {
    c->train_limit = 12000;
    c->eval_limit = 10000;
    c->baseline_epochs = 6;
    c->finetune_epochs = 2;
  }
  if (width > 0) c->width = width;
  if (finetune_epochs > 0) c->finetune_epochs = finetune_epochs;
  return std::nullopt;
}

// Where --baseline-cache keeps the baseline of `arch` and `seed`: the name
// carries every setting that shapes the trained weights (images, width,
// epochs, learning rate, batch, threads, which order float sums), so a run
// never picks up another configuration's model.
std::string BaselineCachePath(const BenchConfig& c, const std::string& arch,
                              int seed) {
  return absl::StrFormat("%s/%s_w%g_n%d_e%d_lr%g_b%d_t%d_s%d.pt",
                         c.baseline_cache, arch, c.width, c.train_limit,
                         c.baseline_epochs, c.baseline_lr, c.batch_size,
                         c.threads, seed);
}

// Builds `arch` at the bench's width from `seed` and trains it on `train`;
// returns the model (in eval mode) and the training images per second.
absl::StatusOr<std::pair<torch::jit::Module, double>> TrainBaseline(
    const BenchConfig& c, const std::string& arch, int seed,
    pd::BatchSource& train) {
  pruneserve::models::ZooOptions zoo;
  zoo.arch = arch;
  zoo.in_channels = 1;
  zoo.input_size = 28;
  zoo.width_multiplier = c.width;
  zoo.seed = 1 + seed;
  auto model = pruneserve::models::BuildZooModel(zoo);
  if (!model.ok()) return model.status();
  pt::TrainerOptions base;
  base.epochs = c.baseline_epochs;
  base.sgd.learning_rate = c.baseline_lr;
  base.num_threads = c.threads;
  base.seed = 1 + seed;
  base.evaluate_every_epoch = false;
  auto trainer = pt::Trainer::Create(&*model, base);
  if (!trainer.ok()) return trainer.status();
  auto trained = (*trainer)->Train(train);
  if (!trained.ok()) return trained.status();
  model->eval();
  return std::make_pair(*std::move(model), trained->images_per_second);
}

// Prunes once and fine-tunes; fills the row's report or error.
void RunPipeline(const BenchConfig& c, const torch::jit::Module& model,
                 const Method& m, pd::BatchSource* train, pd::BatchSource* test,
                 Row* row) {
  pl::PipelineOptions o;
  o.input_shape = {1, 1, 28, 28};
  o.pruning.criterion = *pp::ParseCriterionKind(m.criterion);
  o.pruning.policy.kind = m.policy;
  o.pruning.policy.sensitivity_stages = m.stages;
  o.pruning.probe.before_pooling = m.before_pooling;
  o.pruning.policy.cumulative_halving = m.cumulative_halving;
  o.pruning.policy.sensitivity_batch_statistics = m.batch_statistics;
  o.pruning.policy.sensitivity_output_divergence = m.output_divergence;
  o.pruning.policy.max_group_ratio = m.max_group_ratio;
  // Every method may prune ResNet-56's residual stream and stem: with only
  // the channels inside its blocks, 80 % of MACs is out of reach.
  o.pruning.policy.prune_residual_stream = true;
  o.pruning.seed = 3 + row->seed;
  o.rounds = m.steps;
  o.split_target = m.steps > 1;
  o.calibration_examples = c.calibration;
  o.finetune.epochs = row->finetune_epochs / m.steps;
  torch::jit::Module teacher = model;
  if (m.distill) o.finetune.distillation.teacher = &teacher;
  o.finetune.sgd.learning_rate = c.finetune_lr;
  o.finetune.num_threads = c.threads;
  o.finetune.seed = 2 + row->seed;
  if (pp::PolicyHasTarget(m.policy)) {
    o.pruning.policy.target_flops_reduction = row->point;
    if (m.weights_target) o.pruning.policy.target_params_reduction = row->point;
  } else {
    o.pruning.policy.ratio = row->knob;
  }
  const auto start = Clock::now();
  auto pipeline = pl::PruningPipeline::Create(o);
  if (!pipeline.ok()) {
    row->error = pipeline.status().ToString();
    return;
  }
  auto result = (*pipeline)->Run(model, {train, test, nullptr});
  if (!result.ok()) {
    row->error = result.status().ToString();
    return;
  }
  row->report = std::move(result->report);
  for (const auto& round : row->report.rounds()) {
    row->prune_seconds += round.prune_ms() / 1000.0;
  }
  if (pp::PolicyHasTarget(m.policy) && m.policy != pp::PolicyKind::kBudgeted) {
    row->knob = row->report.rounds(0).pruning().ratio_scale();
  }
  row->seconds += SecondsSince(start);
}

struct MeanSe {
  double mean = 0.0;
  double se = 0.0;  // 0 with one value
  int n = 0;
};

MeanSe Stats(const std::vector<double>& v) {
  MeanSe out;
  out.n = static_cast<int>(v.size());
  if (v.empty()) return out;
  for (double x : v) out.mean += x;
  out.mean /= v.size();
  if (v.size() > 1) {
    double ss = 0.0;
    for (double x : v) ss += (x - out.mean) * (x - out.mean);
    out.se = std::sqrt(ss / (v.size() - 1) / v.size());
  }
  return out;
}

std::string Pm(const MeanSe& s, double scale) {
  if (s.n == 0) return "-";
  if (s.n == 1) return absl::StrFormat("%.2f", s.mean * scale);
  return absl::StrFormat("%.2f ± %.2f", s.mean * scale, s.se * scale);
}

// What the summary needs of one successful row; built from a Row or read
// back from an earlier run's JSON (--merge).
struct Outcome {
  std::string method;
  int seed = 0;
  double point = 0.0;
  double drop = 0.0;
  double flops_reduction = 0.0;
  double params_reduction = 0.0;
};

std::vector<Outcome> Outcomes(const std::vector<Row>& rows) {
  std::vector<Outcome> out;
  for (const Row& r : rows) {
    if (!r.error.empty()) continue;
    out.push_back({r.method, r.seed, r.point, r.report.top1_drop(),
                   r.report.flops_reduction(), r.report.params_reduction()});
  }
  return out;
}

// Mean ± s.e. per method at each point, and the `reference` method's paired
// (same seed) difference with every other method. Appends the verdicts to
// `verdicts` and returns the JSON of the table.
nlohmann::json Aggregate(const std::string& arch,
                         const std::vector<double>& points, int seeds,
                         const std::vector<Method>& methods,
                         const std::vector<Outcome>& rows,
                         const std::string& reference,
                         std::vector<std::string>* verdicts) {
  nlohmann::json out = nlohmann::json::array();
  std::printf(
      "\n%s, %d seed(s): top-1 drop in points (mean ± s.e.), -FLOPs and "
      "-params (mean)\n\n| point | method | drop | -FLOPs | -params | "
      "vs %s (other - %s) | verdict |\n"
      "|---|---|---|---|---|---|---|\n",
      arch.c_str(), seeds, reference.c_str(), reference.c_str());
  for (double point : points) {
    auto drops_of = [&](const std::string& method) {
      std::map<int, const Outcome*> by_seed;
      for (const Outcome& r : rows) {
        if (r.method == method && r.point == point) by_seed[r.seed] = &r;
      }
      return by_seed;
    };
    const auto base = drops_of(reference);
    std::vector<std::string> won, lost, tied;
    for (const Method& m : methods) {
      const auto mine = drops_of(m.name);
      std::vector<double> drop, flops, params, diff;
      for (const auto& [seed, r] : mine) {
        drop.push_back(r->drop);
        flops.push_back(r->flops_reduction);
        params.push_back(r->params_reduction);
        auto b = base.find(seed);
        if (b != base.end() && m.name != reference) {
          diff.push_back(r->drop - b->second->drop);
        }
      }
      const MeanSe d = Stats(drop), f = Stats(flops), pa = Stats(params),
                   df = Stats(diff);
      std::string verdict = "-";
      if (df.n >= 2) {
        verdict = df.mean > 2 * df.se    ? "won"
                  : df.mean < -2 * df.se ? "lost"
                                         : "tied";
        (verdict == "won"    ? won
         : verdict == "lost" ? lost
                             : tied)
            .push_back(m.name);
      }
      // A merge may hold a method on fewer seeds than the others: say so
      // rather than let its mean pass for one over every seed.
      std::string drop_cell = Pm(d, 100);
      if (d.n > 0 && d.n < seeds) {
        absl::StrAppendFormat(&drop_cell, " (%d of %d seeds)", d.n, seeds);
      }
      std::printf(
          "| %.0f%% | %s | %s | %.1f%% | %.1f%% | %s | %s |\n", point * 100,
          m.name.c_str(), drop_cell.c_str(), f.mean * 100, pa.mean * 100,
          m.name == reference ? "-" : Pm(df, 100).c_str(), verdict.c_str());
      out.push_back({{"point", point},
                     {"method", m.name},
                     {"seeds", d.n},
                     {"drop_mean", d.mean},
                     {"drop_se", d.se},
                     {"flops_reduction_mean", f.mean},
                     {"params_reduction_mean", pa.mean},
                     {"reference", reference},
                     {"diff_vs_reference_mean", df.mean},
                     {"diff_vs_reference_se", df.se},
                     {"verdict", verdict}});
    }
    verdicts->push_back(absl::StrFormat(
        "%s at %.0f%% FLOPs: %s won vs [%s], lost vs [%s], tied with "
        "[%s] (gap > 2 s.e. of the paired difference, %d seeds)",
        arch, point * 100, reference, absl::StrJoin(won, " "),
        absl::StrJoin(lost, " "), absl::StrJoin(tied, " "), seeds));
  }
  return out;
}

// --merge: the summary over the rows of earlier --json runs. Returns the
// exit code (1 when a file is unreadable, its settings differ from the
// first file's beyond seeds and points, or a row appears twice).
int MergeRuns(const BenchConfig& c) {
  nlohmann::json first_config;
  // Per architecture, in order of first appearance.
  std::vector<std::string> archs;
  std::map<std::string, std::vector<Outcome>> outcomes;
  std::map<std::string, std::set<int>> seeds;
  std::set<double> points;
  std::set<std::string> used_methods;
  std::set<std::tuple<std::string, std::string, double, int>> seen;
  for (const std::string& path : c.merge) {
    nlohmann::json j;
    try {
      std::ifstream in(path);
      j = nlohmann::json::parse(in);
      nlohmann::json config = j.at("config");
      config.erase("seeds");
      config.erase("first_seed");
      config.erase("points");
      if (first_config.is_null()) first_config = config;
      if (config != first_config) {
        std::fprintf(stderr,
                     "%s: settings differ from %s (only seeds and points "
                     "may): %s vs %s\n",
                     path.c_str(), c.merge[0].c_str(), config.dump().c_str(),
                     first_config.dump().c_str());
        return 1;
      }
      for (const auto& m : j.at("models")) {
        const std::string arch = m.at("arch");
        if (!outcomes.count(arch)) archs.push_back(arch);
        auto& list = outcomes[arch];
        for (const auto& r : m.at("rows")) {
          if (r.contains("error")) continue;
          Outcome o{r.at("method"),          r.at("seed"),
                    r.at("point"),           r.at("top1_drop"),
                    r.at("flops_reduction"), r.at("params_reduction")};
          if (!seen.insert({arch, o.method, o.point, o.seed}).second) {
            std::fprintf(stderr, "%s: %s %s at %.2f seed %d appears twice\n",
                         path.c_str(), arch.c_str(), o.method.c_str(), o.point,
                         o.seed);
            return 1;
          }
          seeds[arch].insert(o.seed);
          points.insert(o.point);
          used_methods.insert(o.method);
          list.push_back(std::move(o));
        }
      }
    } catch (const nlohmann::json::exception& e) {
      std::fprintf(stderr, "%s: not a pruning_quality_bench --json file: %s\n",
                   path.c_str(), e.what());
      return 1;
    }
  }
  std::printf("merged %zu run(s): %s\nsettings: %s\n", c.merge.size(),
              absl::StrJoin(c.merge, ", ").c_str(),
              first_config.dump().c_str());
  std::vector<Method> methods;
  for (const Method& m : AllMethods()) {
    if (used_methods.count(m.name)) methods.push_back(m);
  }
  std::vector<std::string> verdicts;
  for (const std::string& arch : archs) {
    Aggregate(arch, {points.begin(), points.end()},
              static_cast<int>(seeds[arch].size()), methods, outcomes[arch],
              c.reference, &verdicts);
  }
  std::printf("\n");
  for (const std::string& v : verdicts) std::printf("%s\n", v.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The trainer and the pruning engine free and re-allocate large buffers.
  pruneserve::KeepAllocatorPages();
  BenchConfig c;
  if (auto exit_code = ParseArgs(argc, argv, &c)) return *exit_code;
  if (!c.merge.empty()) return MergeRuns(c);
  const auto bench_start = Clock::now();
  const std::vector<double> load_start = LoadAverage();
  at::set_num_threads(c.threads);
  auto test = Open(c, "test", c.eval_limit, /*shuffle=*/false, 11);
  if (!test) {
    std::fprintf(stderr, "cannot open Fashion-MNIST under %s\n",
                 c.data_dir.c_str());
    return 1;
  }
  std::vector<Method> methods;
  for (const Method& m : AllMethods()) {
    if (c.methods.empty() || std::find(c.methods.begin(), c.methods.end(),
                                       m.name) != c.methods.end()) {
      methods.push_back(m);
    }
  }
  const std::string setup = absl::StrFormat(
      "mode %s: %d train / %d test images, width %.2f, baseline %d epochs lr "
      "%g, fine-tune %d epoch(s) lr %g (SGD nesterov, cosine warm restarts), "
      "batch %d, %d calibration images, %d threads, %d seed(s), points %s, "
      "load average %s",
      c.mode, c.train_limit > 0 ? c.train_limit : 60000, test->num_examples(),
      c.width, c.baseline_epochs, c.baseline_lr, c.finetune_epochs,
      c.finetune_lr, c.batch_size, c.calibration, c.threads, c.seeds,
      absl::StrJoin(c.points, ","), LoadText(load_start));
  std::printf("%s\n\n", setup.c_str());

  nlohmann::json json_models = nlohmann::json::array();
  std::vector<std::string> verdicts;
  for (const std::string& arch : c.models) {
    std::vector<Row> rows;
    nlohmann::json baselines = nlohmann::json::array();
    PrintHeader();
    std::fflush(stdout);
    for (int seed = c.first_seed; seed < c.first_seed + c.seeds; ++seed) {
      auto train = Open(c, "train", c.train_limit, /*shuffle=*/true,
                        11 + 1000 * static_cast<uint64_t>(seed));
      if (!train) return 1;
      const auto start = Clock::now();
      const std::string cached =
          c.baseline_cache.empty() ? "" : BaselineCachePath(c, arch, seed);
      std::optional<torch::jit::Module> model;
      if (!cached.empty() && std::ifstream(cached).good()) {
        try {
          model = torch::jit::load(cached);
        } catch (const c10::Error& e) {
          std::fprintf(stderr, "cannot load %s: %s\n", cached.c_str(),
                       e.what_without_backtrace());
          return 1;
        }
        model->eval();
        std::fprintf(stderr, "%s (width %.2f, seed %d) baseline: %s\n",
                     arch.c_str(), c.width, seed, cached.c_str());
        baselines.push_back({{"seed", seed}, {"cached", cached}});
      } else {
        auto trained = TrainBaseline(c, arch, seed, *train);
        if (!trained.ok()) {
          std::fprintf(stderr, "%s baseline: %s\n", arch.c_str(),
                       trained.status().ToString().c_str());
          return 1;
        }
        model = std::move(trained->first);
        const double baseline_seconds = SecondsSince(start);
        std::fprintf(stderr,
                     "%s (width %.2f, seed %d) baseline: %lld epochs in %.1fs "
                     "(%.0f images/s)\n",
                     arch.c_str(), c.width, seed,
                     static_cast<long long>(c.baseline_epochs),
                     baseline_seconds, trained->second);
        baselines.push_back(
            {{"seed", seed},
             {"seconds", baseline_seconds},
             {"epoch_seconds", baseline_seconds / c.baseline_epochs},
             {"images_per_second", trained->second}});
        if (!cached.empty()) model->save(cached);
      }
      for (double point : c.points) {
        for (const Method& m : methods) {
          if (m.steps > c.finetune_epochs) continue;
          Row row;
          row.model = arch;
          row.method = m.name;
          row.seed = seed;
          row.point = point;
          row.finetune_epochs = c.finetune_epochs;
          if (!pp::PolicyHasTarget(m.policy)) {
            const auto match_start = Clock::now();
            auto ratio = MatchFlops(*model, {1, 1, 28, 28}, m.criterion,
                                    m.policy, 3 + seed, point);
            row.prune_seconds = SecondsSince(match_start);
            row.seconds = row.prune_seconds;
            if (!ratio.ok()) row.error = ratio.status().ToString();
            if (ratio.ok()) row.knob = ratio->ratio;
          }
          if (row.error.empty()) {
            RunPipeline(c, *model, m, train.get(), test.get(), &row);
          }
          rows.push_back(std::move(row));
          PrintRow(rows.back());
          std::fflush(stdout);
        }
      }
    }

    // Where each method put its cuts: channels per pruned layer.
    std::printf("\n%s channels per pruned layer (before>after), seed %d:\n",
                arch.c_str(), c.first_seed);
    for (const Row& r : rows) {
      if (r.seed != c.first_seed) continue;
      std::printf("  %-12s %.0f%%  %s\n", r.method.c_str(), r.point * 100,
                  KeptChannelsText(r).c_str());
    }
    nlohmann::json table = Aggregate(arch, c.points, c.seeds, methods,
                                     Outcomes(rows), c.reference, &verdicts);
    std::printf("\n");
    std::fflush(stdout);

    nlohmann::json jm = {{"arch", arch},
                         {"width", c.width},
                         {"baselines", baselines},
                         {"aggregate", table},
                         {"rows", nlohmann::json::array()}};
    for (const Row& r : rows) jm["rows"].push_back(RowJson(r));
    json_models.push_back(std::move(jm));
  }
  const std::vector<double> load_end = LoadAverage();
  const double total = SecondsSince(bench_start);
  std::printf("\n");
  for (const std::string& v : verdicts) std::printf("%s\n", v.c_str());
  std::printf(
      "summary: %s mode, %zu model(s), %d seed(s), %.1f min, load average "
      "%s at start, %s at end\n",
      c.mode.c_str(), c.models.size(), c.seeds, total / 60.0,
      LoadText(load_start).c_str(), LoadText(load_end).c_str());

  if (!c.json_path.empty()) {
    nlohmann::json j = {{"mode", c.mode},
                        {"setup", setup},
                        {"config",
                         {{"train_images", c.train_limit},
                          {"test_images", test->num_examples()},
                          {"width", c.width},
                          {"baseline_epochs", c.baseline_epochs},
                          {"baseline_lr", c.baseline_lr},
                          {"finetune_epochs", c.finetune_epochs},
                          {"finetune_lr", c.finetune_lr},
                          {"batch_size", c.batch_size},
                          {"calibration_images", c.calibration},
                          {"threads", c.threads},
                          {"seeds", c.seeds},
                          {"first_seed", c.first_seed},
                          {"points", c.points}}},
                        {"load_average_start", load_start},
                        {"load_average_end", load_end},
                        {"seconds", total},
                        {"models", json_models},
                        {"verdicts", verdicts}};
    std::ofstream out(c.json_path);
    out << j.dump(2) << "\n";
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", c.json_path.c_str());
      return 1;
    }
  }
  return 0;
}
