// Pruning quality on Fashion-MNIST: trains a dense baseline of VGG13-BN and a
// CIFAR-style ResNet-56 (1x28x28 input), prunes each with several methods and
// fine-tunes every result with the same budget (the paper's SGD + cosine warm
// restarts schedule, same total epochs, same batch size):
//
//   refined         the paper: BN |gamma|, layer ratio = measured sparsity
//   target_flops    refined ratios scaled to refined's own FLOPs reduction
//                   (the same method, exercising the bisection)
//   l1+uniform      Li et al.: L1 filter norm, one ratio for every layer
//   slimming        Network Slimming: BN |gamma|, one global threshold
//   random          random channels, one ratio for every layer
//   refined xN      N prune -> fine-tune rounds, sparsity re-measured each
//                   round (--rounds N, 0 disables), followed by its own
//                   l1+uniform / slimming / random rows matched to it; those
//                   get all N rounds' epochs in one fine-tuning run.
//
// Baselines are matched to the FLOPs (MACs) of the refined model they are
// compared with, not to its parameters: the uniform ratio (l1, random) and
// the global-threshold fraction (slimming) are bisected on the pruning plan's
// MAC estimate until the reduction equals refined's to channel granularity.
// The table's -FLOPs column is the measured reduction, so the match can be
// checked. Not a test: nothing here decides pass/fail.
//
// Modes (batch 64, 256 calibration images, fine-tuning lr 0.01, width 0.25
// of the paper's channel counts, which keeps a 2-core machine in the loop):
//   --quick   3000 train / 1000 test images, 3 baseline epochs (lr 0.05),
//             1 fine-tuning epoch per round: both models in 3.4 min with
//             --threads 2 on an idle 2-core machine. (Under heavy
//             oversubscription --threads 1 is the safer choice: OpenMP
//             threads wait for each other when the cores are busy.)
//   --medium  12000 train / 10000 test images, 6 baseline epochs (lr 0.1),
//             2 fine-tuning epochs per round: VGG13-BN in 7.4 min idle.
//   --full    (the default) all 60000 / 10000 images, 10 baseline epochs
//             (lr 0.1), 2 fine-tuning epochs per round; 44 epochs of 60000
//             images per model in all. VGG13-BN: 61.1 min measured beside
//             a CI run, about 36 min idle; ResNet-56 about 1.5 h idle
//             (its 1-round part: 53.7 min beside a build). Results:
//             docs/pruning_quality.md.
// Any mode takes --width W to change the channel counts (1.0 is the paper's
// model, 16x the MACs of 0.25) and --finetune-epochs N per round.
// Flags: --data DIR (default /usr/share/datasets/fashion-mnist),
//        --threads N (default 2), --width W, --finetune-epochs N, --models
//        vgg13_bn,resnet56, --rounds N (default 3), --json FILE (every row and
//        the configuration).
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
#include <string>
#include <tuple>
#include <vector>

#include "CLI/CLI.hpp"
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
  std::vector<std::string> models = {"vgg13_bn", "resnet56"};
  int64_t train_limit = 0;
  int64_t eval_limit = 0;
  double width = 0.25;
  int64_t baseline_epochs = 10;
  double baseline_lr = 0.1;
  int64_t finetune_epochs = 2;
  double finetune_lr = 0.01;
  int64_t batch_size = 64;
  int64_t calibration = 256;
  int rounds = 3;
  std::string json_path;
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
                                      bool shuffle) {
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
  loader.seed = 11;
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
  auto reduction = [&](double ratio) -> absl::StatusOr<double> {
    policy.ratio = ratio;
    auto plan = pp::PlanPruning(**graph, scores, errors, nullptr, policy);
    if (!plan.ok()) return plan.status();
    return 1.0 - pp::EstimateMacs(**graph, plan->masks()) / macs0;
  };
  // The reduction never decreases with the ratio (more channels below the
  // cut), so bisect for the smallest ratio reaching the target and keep it or
  // its lower neighbour, whichever lands closer.
  double lo = 0.0, hi = 0.99;
  auto at_hi = reduction(hi);
  if (!at_hi.ok()) return at_hi.status();
  if (*at_hi < target) return MatchedRatio{hi, *at_hi};
  for (int i = 0; i < 40; ++i) {
    const double mid = 0.5 * (lo + hi);
    auto r = reduction(mid);
    if (!r.ok()) return r.status();
    (*r >= target ? hi : lo) = mid;
  }
  auto r_lo = reduction(lo);
  auto r_hi = reduction(hi);
  if (!r_lo.ok()) return r_lo.status();
  if (!r_hi.ok()) return r_hi.status();
  if (std::abs(*r_lo - target) < std::abs(*r_hi - target)) {
    return MatchedRatio{lo, *r_lo};
  }
  return MatchedRatio{hi, *r_hi};
}

struct Method {
  std::string name;
  std::string criterion;
  pp::PolicyKind policy;
};

struct Row {
  std::string model;
  std::string method;
  // Pruning rounds and fine-tuning epochs in total.
  int rounds = 1;
  int64_t finetune_epochs = 0;
  // The policy's knob: uniform ratio, global fraction or target_flops scale;
  // negative when the policy has none (refined).
  double knob = -1.0;
  // FLOPs reduction the row was matched to; negative when not matched.
  double matched_to = -1.0;
  double seconds = 0.0;
  pruneserve::v1::PipelineReport report;
  std::string error;
};

void PrintHeader() {
  std::printf(
      "| model | method | rounds x ep | knob | params | -params | FLOPs | "
      "-FLOPs | top1 base | top1 pruned | top1 tuned | drop | time |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
}

void PrintRow(const Row& r) {
  if (!r.error.empty()) {
    std::printf("| %s | %s | error: %s |\n", r.model.c_str(), r.method.c_str(),
                r.error.c_str());
    return;
  }
  const auto& p = r.report;
  const auto& last = p.rounds(p.rounds_size() - 1);
  const std::string knob = r.knob < 0 ? "-" : absl::StrFormat("%.3f", r.knob);
  std::printf(
      "| %s | %s | %d x %lld | %s | %s | %.1f%% | %s | %.1f%% | %.2f%% | "
      "%.2f%% | %.2f%% | %+.2f | %.0fs |\n",
      r.model.c_str(), r.method.c_str(), p.rounds_size(),
      static_cast<long long>(r.finetune_epochs / std::max(1, r.rounds)),
      knob.c_str(), pl::HumanCount(p.final().params()).c_str(),
      p.params_reduction() * 100, pl::HumanCount(p.final().flops()).c_str(),
      p.flops_reduction() * 100, p.baseline().top1_accuracy() * 100,
      last.after_prune().top1_accuracy() * 100, p.final().top1_accuracy() * 100,
      p.top1_drop() * 100, r.seconds);
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
                      {"rounds_requested", r.rounds},
                      {"finetune_epochs_total", r.finetune_epochs},
                      {"seconds", r.seconds}};
  if (r.knob >= 0) j["knob"] = r.knob;
  if (r.matched_to >= 0) j["matched_flops_reduction"] = r.matched_to;
  if (!r.error.empty()) {
    j["error"] = r.error;
    return j;
  }
  const auto& p = r.report;
  j["rounds"] = p.rounds_size();
  j["stop_reason"] = pl::StopReasonText(p.stop_reason());
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
      "--quick", [c] { c->mode = "quick"; }, "About a minute per model");
  auto* medium = app.add_flag_callback(
      "--medium", [c] { c->mode = "medium"; }, "A subset, a few epochs");
  auto* full = app.add_flag_callback(
      "--full", [c] { c->mode = "full"; }, "Everything (the default)");
  quick->excludes(medium)->excludes(full);
  medium->excludes(full);
  app.add_option("--width", width, "Width multiplier (overrides the mode)")
      ->check(CLI::Range(0.0, 4.0) & CLI::PositiveNumber);
  app.add_option("--finetune-epochs", finetune_epochs,
                 "Fine-tuning epochs in all (overrides the mode)")
      ->check(CLI::PositiveNumber);
  app.add_option("--data", c->data_dir, "Fashion-MNIST directory")
      ->capture_default_str();
  app.add_option("--threads", c->threads, "LibTorch intra-op threads")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--rounds", c->rounds, "Prune/fine-tune rounds")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--models", c->models, "Architectures, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--json", c->json_path, "Also write the rows to FILE");
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
  }
  if (width > 0) c->width = width;
  if (finetune_epochs > 0) c->finetune_epochs = finetune_epochs;
  return std::nullopt;
}

// Runs one pipeline on `model` and fills the row's report or error.
void RunPipeline(const BenchConfig& c, const torch::jit::Module& model,
                 const Method& m, pd::BatchSource* train, pd::BatchSource* test,
                 Row* row) {
  pl::PipelineOptions o;
  o.input_shape = {1, 1, 28, 28};
  o.pruning.criterion = *pp::ParseCriterionKind(m.criterion);
  o.pruning.policy.kind = m.policy;
  o.pruning.seed = 3;
  o.rounds = row->rounds;
  o.calibration_examples = c.calibration;
  o.finetune.epochs = row->finetune_epochs / row->rounds;
  o.finetune.sgd.learning_rate = c.finetune_lr;
  o.finetune.num_threads = c.threads;
  o.finetune.seed = 2;
  if (m.policy == pp::PolicyKind::kTargetFlops) {
    o.pruning.policy.target_flops_reduction = row->matched_to;
  } else if (m.policy != pp::PolicyKind::kRefined) {
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
  if (m.policy == pp::PolicyKind::kTargetFlops) {
    row->knob = row->report.rounds(0).pruning().ratio_scale();
  }
  row->seconds += SecondsSince(start);
}

// One comparison: a refined run and the baselines matched to its FLOPs.
struct Comparison {
  std::string label;
  const Row* refined = nullptr;
  std::vector<const Row*> others;
};

double Drop(const Row* r) { return r->report.top1_drop(); }

// "refined x3: -87.1% params -80.2% FLOPs, drop 0.31 pts (goal met); vs
// l1+uniform +0.42 pts, random +1.10 pts, slimming -0.05 pts"
std::string Summarize(const std::string& arch, const Comparison& cmp) {
  const Row* ref = cmp.refined;
  if (ref == nullptr || !ref->error.empty()) {
    return absl::StrCat(arch, " ", cmp.label, ": failed");
  }
  const auto& p = ref->report;
  const bool goal = p.params_reduction() >= 0.85 &&
                    p.flops_reduction() >= 0.75 && p.top1_drop() <= 0.005;
  std::string s = absl::StrFormat(
      "%s %s: -%.1f%% params -%.1f%% FLOPs, drop %.2f pts (goal >=85/>=75/"
      "<=0.5: %s); others' drop minus refined's:",
      arch, cmp.label, p.params_reduction() * 100, p.flops_reduction() * 100,
      p.top1_drop() * 100, goal ? "met" : "not met");
  for (const Row* o : cmp.others) {
    if (!o->error.empty()) continue;
    absl::StrAppendFormat(&s, " %s %+.2f", o->method,
                          (Drop(o) - Drop(ref)) * 100);
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  // The trainer and the pruning engine free and re-allocate large buffers.
  pruneserve::KeepAllocatorPages();
  BenchConfig c;
  if (auto exit_code = ParseArgs(argc, argv, &c)) return *exit_code;
  const auto bench_start = Clock::now();
  const std::vector<double> load_start = LoadAverage();
  at::set_num_threads(c.threads);
  auto train = Open(c, "train", c.train_limit, /*shuffle=*/true);
  auto test = Open(c, "test", c.eval_limit, /*shuffle=*/false);
  if (!train || !test) {
    std::fprintf(stderr, "cannot open Fashion-MNIST under %s\n",
                 c.data_dir.c_str());
    return 1;
  }
  const std::string setup = absl::StrFormat(
      "mode %s: %d train / %d test images, width %.2f, baseline %d epochs lr "
      "%g, fine-tune %d epoch(s) per round lr %g (SGD nesterov, cosine warm "
      "restarts), batch %d, %d calibration images, %d threads, load average "
      "%s",
      c.mode, train->num_examples(), test->num_examples(), c.width,
      c.baseline_epochs, c.baseline_lr, c.finetune_epochs, c.finetune_lr,
      c.batch_size, c.calibration, c.threads, LoadText(load_start));
  std::printf("%s\n\n", setup.c_str());

  const Method refined{"refined", "bn_gamma", pp::PolicyKind::kRefined};
  const Method target{"target_flops", "bn_gamma", pp::PolicyKind::kTargetFlops};
  const std::vector<Method> matched = {
      {"l1+uniform", "l1", pp::PolicyKind::kUniform},
      {"slimming", "bn_gamma", pp::PolicyKind::kGlobalThreshold},
      {"random", "random", pp::PolicyKind::kUniform},
  };
  nlohmann::json json_models = nlohmann::json::array();
  std::vector<std::string> summaries;
  for (const std::string& arch : c.models) {
    PrintHeader();
    std::fflush(stdout);
    const auto start = Clock::now();
    pruneserve::models::ZooOptions zoo;
    zoo.arch = arch;
    zoo.in_channels = 1;
    zoo.input_size = 28;
    zoo.width_multiplier = c.width;
    zoo.seed = 1;
    auto model = pruneserve::models::BuildZooModel(zoo);
    if (!model.ok()) {
      std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
      return 1;
    }
    pt::TrainerOptions base;
    base.epochs = c.baseline_epochs;
    base.sgd.learning_rate = c.baseline_lr;
    base.num_threads = c.threads;
    base.seed = 1;
    base.evaluate_every_epoch = false;
    auto trainer = pt::Trainer::Create(&*model, base);
    if (!trainer.ok()) return 1;
    auto trained = (*trainer)->Train(*train);
    if (!trained.ok()) {
      std::fprintf(stderr, "%s baseline: %s\n", arch.c_str(),
                   trained.status().ToString().c_str());
      return 1;
    }
    model->eval();
    const double baseline_seconds = SecondsSince(start);
    const double epoch_seconds =
        baseline_seconds / static_cast<double>(c.baseline_epochs);
    std::fprintf(stderr,
                 "%s (width %.2f) baseline: %lld epochs in %.1fs (%.0f "
                 "images/s)\n",
                 arch.c_str(), c.width,
                 static_cast<long long>(c.baseline_epochs), baseline_seconds,
                 trained->images_per_second);

    // Rows live in a vector reserved up front so that the comparisons'
    // pointers stay valid.
    std::vector<Row> rows;
    rows.reserve(16);
    // Prunes and fine-tunes for `epochs` in total over `rounds` rounds.
    auto run = [&](const Method& m, int rounds, int64_t epochs, double knob,
                   double matched_to, double extra_seconds) -> const Row* {
      Row row;
      row.model = arch;
      row.method = rounds > 1 ? absl::StrCat(m.name, " x", rounds) : m.name;
      row.rounds = rounds;
      row.finetune_epochs = epochs;
      row.knob = knob;
      row.matched_to = matched_to;
      row.seconds = extra_seconds;
      RunPipeline(c, *model, m, train.get(), test.get(), &row);
      rows.push_back(std::move(row));
      PrintRow(rows.back());
      std::fflush(stdout);
      return &rows.back();
    };
    // Matches every baseline to `ref`'s FLOPs and fine-tunes it for as many
    // epochs as `ref` got in all its rounds, in one round. The bisection's
    // time counts toward the row's.
    auto run_matched = [&](const Row* ref, Comparison* cmp) {
      if (!ref->error.empty()) return;
      const double goal = ref->report.flops_reduction();
      for (const Method& m : matched) {
        const auto match_start = Clock::now();
        auto ratio =
            MatchFlops(*model, {1, 1, 28, 28}, m.criterion, m.policy, 3, goal);
        if (!ratio.ok()) {
          Row row;
          row.model = arch;
          row.method = m.name;
          row.error = ratio.status().ToString();
          rows.push_back(std::move(row));
          PrintRow(rows.back());
          cmp->others.push_back(&rows.back());
          continue;
        }
        cmp->others.push_back(run(m, 1, ref->finetune_epochs, ratio->ratio,
                                  goal, SecondsSince(match_start)));
      }
    };

    std::vector<Comparison> comparisons;
    Comparison one{"refined", nullptr, {}};
    one.refined = run(refined, 1, c.finetune_epochs, -1.0, -1.0, 0.0);
    if (one.refined->error.empty()) {
      const double goal = std::max(0.01, one.refined->report.flops_reduction());
      one.others.push_back(run(target, 1, c.finetune_epochs, -1.0, goal, 0.0));
    }
    run_matched(one.refined, &one);
    comparisons.push_back(one);
    if (c.rounds > 1) {
      Comparison multi{absl::StrCat("refined x", c.rounds), nullptr, {}};
      multi.refined =
          run(refined, c.rounds, c.finetune_epochs * c.rounds, -1.0, -1.0, 0.0);
      run_matched(multi.refined, &multi);
      comparisons.push_back(multi);
    }

    // Where each method put its cuts: channels per pruned layer, in the
    // order of the pruning report (conv outputs for VGG, the bottleneck
    // convs for ResNet).
    std::printf("\n%s channels per pruned layer (before>after):\n",
                arch.c_str());
    for (const Row& r : rows) {
      std::printf("  %-16s %s\n", r.method.c_str(),
                  KeptChannelsText(r).c_str());
    }
    std::printf("\n");
    std::fflush(stdout);

    nlohmann::json jm = {
        {"arch", arch},
        {"width", c.width},
        {"baseline_seconds", baseline_seconds},
        {"baseline_epoch_seconds", epoch_seconds},
        {"baseline_images_per_second", trained->images_per_second},
        {"rows", nlohmann::json::array()},
        {"summaries", nlohmann::json::array()}};
    for (const Row& r : rows) jm["rows"].push_back(RowJson(r));
    for (const Comparison& cmp : comparisons) {
      summaries.push_back(Summarize(arch, cmp));
      jm["summaries"].push_back(summaries.back());
    }
    json_models.push_back(std::move(jm));
  }
  const std::vector<double> load_end = LoadAverage();
  const double total = SecondsSince(bench_start);
  std::printf("\n");
  for (const std::string& s : summaries) std::printf("%s\n", s.c_str());
  std::printf(
      "summary: %s mode, %zu comparison(s), %.1f min, load average %s "
      "at start, %s at end\n",
      c.mode.c_str(), summaries.size(), total / 60.0,
      LoadText(load_start).c_str(), LoadText(load_end).c_str());

  if (!c.json_path.empty()) {
    nlohmann::json j = {{"mode", c.mode},
                        {"setup", setup},
                        {"config",
                         {{"train_images", train->num_examples()},
                          {"test_images", test->num_examples()},
                          {"width", c.width},
                          {"baseline_epochs", c.baseline_epochs},
                          {"baseline_lr", c.baseline_lr},
                          {"finetune_epochs_per_round", c.finetune_epochs},
                          {"finetune_lr", c.finetune_lr},
                          {"batch_size", c.batch_size},
                          {"calibration_images", c.calibration},
                          {"threads", c.threads},
                          {"rounds", c.rounds}}},
                        {"load_average_start", load_start},
                        {"load_average_end", load_end},
                        {"seconds", total},
                        {"models", json_models},
                        {"summaries", summaries}};
    std::ofstream out(c.json_path);
    out << j.dump(2) << "\n";
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", c.json_path.c_str());
      return 1;
    }
  }
  return 0;
}
