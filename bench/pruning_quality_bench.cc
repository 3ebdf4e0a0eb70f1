// Pruning quality on Fashion-MNIST: trains a dense baseline of VGG13-BN and a
// CIFAR-style ResNet-56 (1x28x28 input), then prunes each with five methods
// and fine-tunes every result with the same budget (the paper's SGD +
// cosine warm restarts schedule, same epochs and batch size):
//
//   refined         the paper: BN |gamma|, layer ratio = measured sparsity
//   target_flops    refined ratios scaled to refined's own FLOPs reduction
//                   (the same method, exercising the bisection)
//   l1+uniform      Li et al.: L1 filter norm, one ratio for every layer
//   slimming        Network Slimming: BN |gamma|, one global threshold
//   random          random channels, uniform ratio
//
// The uniform, slimming and random ratios are matched to refined's
// parameter reduction (channel ratio r = 1 - sqrt(1 - params_reduction), as
// conv parameters scale with in x out channels), so the methods are compared
// at roughly equal size. Prints one table row per (model, method) and a
// one-line summary. Not a test: nothing here decides pass/fail.
//
// Modes:
//   --quick  3000 train / 1000 test images, width 0.25 for both models,
//            3 baseline epochs (lr 0.05), 1 fine-tuning epoch, batch 64.
//   full     all 60000 / 10000 images, full widths, 30 baseline epochs
//            (lr 0.1, cosine), 10 fine-tuning epochs (lr 0.01), batch 64.
// Flags: --data DIR (default /usr/share/datasets/fashion-mnist),
//        --threads N (default 2), --models vgg13_bn,resnet56.
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "core/data/dataset_spec.h"
#include "core/data/prefetching_loader.h"
#include "core/models/model_zoo.h"
#include "core/pipeline/pipeline_report.h"
#include "core/pipeline/pruning_pipeline.h"
#include "core/training/evaluator.h"
#include "core/training/trainer.h"

namespace {

namespace pl = pruneserve::pipeline;
namespace pp = pruneserve::pruning;
namespace pt = pruneserve::training;
namespace pd = pruneserve::data;

using Clock = std::chrono::steady_clock;

struct BenchConfig {
  bool quick = false;
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  int threads = 2;
  std::vector<std::string> models = {"vgg13_bn", "resnet56"};
  int64_t train_limit = 0;
  int64_t eval_limit = 0;
  int64_t baseline_epochs = 30;
  double baseline_lr = 0.1;
  int64_t finetune_epochs = 10;
  double finetune_lr = 0.01;
  int64_t batch_size = 64;
  int64_t calibration = 256;
};

double WidthFor(const BenchConfig& c, const std::string& arch) {
  (void)arch;  // both architectures use the same reduced width
  return c.quick ? 0.25 : 1.0;
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

struct Method {
  std::string name;
  std::string criterion;
  pp::PolicyKind policy;
};

struct Row {
  std::string model;
  std::string method;
  pruneserve::v1::PipelineReport report;
  std::string error;
};

void PrintRow(const Row& r) {
  if (!r.error.empty()) {
    std::printf("%-10s %-13s error: %s\n", r.model.c_str(), r.method.c_str(),
                r.error.c_str());
    return;
  }
  const auto& p = r.report;
  const auto& round = p.rounds(0);
  std::printf(
      "%-10s %-13s %9s %6.1f%% %9s %6.1f%% %8.2f%% %8.2f%% %8.2f%% %7.2f "
      "%7.1fs\n",
      r.model.c_str(), r.method.c_str(),
      pl::HumanCount(p.final().params()).c_str(), p.params_reduction() * 100,
      pl::HumanCount(p.final().flops()).c_str(), p.flops_reduction() * 100,
      p.baseline().top1_accuracy() * 100,
      round.after_prune().top1_accuracy() * 100,
      p.final().top1_accuracy() * 100, p.top1_drop() * 100,
      p.elapsed_ms() / 1000.0);
}

bool ParseArgs(int argc, char** argv, BenchConfig* c) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "--quick") {
      c->quick = true;
    } else if (arg == "--data" && value(&v)) {
      c->data_dir = v;
    } else if (arg == "--threads" && value(&v)) {
      if (!absl::SimpleAtoi(v, &c->threads)) return false;
    } else if (arg == "--models" && value(&v)) {
      c->models = absl::StrSplit(v, ',');
    } else {
      std::fprintf(stderr,
                   "usage: pruning_quality_bench [--quick] [--data DIR] "
                   "[--threads N] [--models a,b]\n");
      return false;
    }
  }
  if (c->quick) {
    c->train_limit = 3000;
    c->eval_limit = 1000;
    c->baseline_epochs = 3;
    c->baseline_lr = 0.05;
    c->finetune_epochs = 1;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  BenchConfig c;
  if (!ParseArgs(argc, argv, &c)) return 2;
  at::set_num_threads(c.threads);
  auto train = Open(c, "train", c.train_limit, /*shuffle=*/true);
  auto test = Open(c, "test", c.eval_limit, /*shuffle=*/false);
  if (!train || !test) {
    std::fprintf(stderr, "cannot open Fashion-MNIST under %s\n",
                 c.data_dir.c_str());
    return 1;
  }
  std::printf(
      "mode %s: %lld train / %lld test images, baseline %lld epochs lr %g, "
      "fine-tune %lld epoch(s) lr %g (SGD nesterov, cosine warm restarts), "
      "batch %lld, %lld calibration images, %d threads\n",
      c.quick ? "quick" : "full", static_cast<long long>(train->num_examples()),
      static_cast<long long>(test->num_examples()),
      static_cast<long long>(c.baseline_epochs), c.baseline_lr,
      static_cast<long long>(c.finetune_epochs), c.finetune_lr,
      static_cast<long long>(c.batch_size),
      static_cast<long long>(c.calibration), c.threads);

  const std::vector<Method> methods = {
      {"refined", "bn_gamma", pp::PolicyKind::kRefined},
      {"target_flops", "bn_gamma", pp::PolicyKind::kTargetFlops},
      {"l1+uniform", "l1", pp::PolicyKind::kUniform},
      {"slimming", "bn_gamma", pp::PolicyKind::kGlobalThreshold},
      {"random", "random", pp::PolicyKind::kUniform},
  };
  std::vector<Row> rows;
  std::string summary;
  for (const std::string& arch : c.models) {
    const auto start = Clock::now();
    pruneserve::models::ZooOptions zoo;
    zoo.arch = arch;
    zoo.in_channels = 1;
    zoo.input_size = 28;
    zoo.width_multiplier = WidthFor(c, arch);
    zoo.seed = 1;
    auto model = pruneserve::models::BuildZooModel(zoo);
    if (!model.ok()) {
      std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
      return 1;
    }
    pt::TrainerOptions base;
    base.epochs = c.baseline_epochs;
    base.sgd.learning_rate = c.baseline_lr;
    base.seed = 1;
    auto trainer = pt::Trainer::Create(&*model, base);
    if (!trainer.ok()) return 1;
    auto trained = (*trainer)->Train(*train);
    if (!trained.ok()) {
      std::fprintf(stderr, "%s baseline: %s\n", arch.c_str(),
                   trained.status().ToString().c_str());
      return 1;
    }
    model->eval();
    std::fprintf(stderr, "%s (width %.2f) baseline trained in %.1fs\n",
                 arch.c_str(), zoo.width_multiplier,
                 std::chrono::duration<double>(Clock::now() - start).count());

    double refined_params = 0.0, refined_flops = 0.0;
    double refined_drop = 0.0, best_other_drop = 1e9;
    std::string best_other;
    for (const Method& m : methods) {
      pl::PipelineOptions o;
      o.input_shape = {1, 1, 28, 28};
      o.pruning.criterion = m.criterion;
      o.pruning.policy.kind = m.policy;
      o.pruning.seed = 3;
      o.calibration_examples = c.calibration;
      // Matched to refined's reduction (see the file comment).
      const double r = 1.0 - std::sqrt(std::max(0.0, 1.0 - refined_params));
      o.pruning.policy.ratio = std::min(0.9, std::max(0.05, r));
      o.pruning.policy.target_flops_reduction = std::max(0.01, refined_flops);
      o.finetune.epochs = c.finetune_epochs;
      o.finetune.sgd.learning_rate = c.finetune_lr;
      o.finetune.seed = 2;
      Row row{arch, m.name, {}, ""};
      auto pipeline = pl::PruningPipeline::Create(o);
      if (!pipeline.ok()) {
        row.error = pipeline.status().ToString();
      } else {
        auto result =
            (*pipeline)->Run(*model, {train.get(), test.get(), nullptr});
        if (!result.ok()) {
          row.error = result.status().ToString();
        } else {
          row.report = std::move(result->report);
        }
      }
      if (row.error.empty()) {
        const double drop = row.report.top1_drop();
        if (m.name == "refined") {
          refined_params = row.report.params_reduction();
          refined_flops = row.report.flops_reduction();
          refined_drop = drop;
        } else if (m.name != "target_flops" && drop < best_other_drop) {
          best_other_drop = drop;
          best_other = m.name;
        }
      }
      if (rows.empty()) {
        std::printf("%-10s %-13s %9s %7s %9s %7s %9s %9s %9s %7s %8s\n",
                    "model", "method", "params", "-params", "FLOPs", "-FLOPs",
                    "top1_base", "top1_prn", "top1_ft", "drop", "time");
      }
      rows.push_back(row);
      PrintRow(row);
      std::fflush(stdout);
    }
    summary += absl::StrFormat(
        "%s%s: refined -%.1f%% params -%.1f%% FLOPs, drop %.2f pts; best "
        "matched baseline %s drop %.2f pts",
        summary.empty() ? "" : "; ", arch, refined_params * 100,
        refined_flops * 100, refined_drop * 100, best_other.c_str(),
        best_other_drop * 100);
  }
  std::printf("summary: %s\n", summary.c_str());
  return 0;
}
