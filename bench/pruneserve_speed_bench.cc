// Pruning speed of pruning::PruneModule on TorchScript archives: the C++
// side of bench/run_pruning_speed.sh, which compares it with Torch-Pruning
// (bench/torch_pruning_peer.py) on the same torchvision models.
//
//   pruneserve_speed_bench [--repeats=3] [--threads=2] [--json]
//       [--prune_residual_stream] (NAME=PATH | PATH.pt | DIR)...
//
// A DIR contributes every *.pt in it, named after the file stem. Each model
// is loaded once (not timed); then, `repeats` times, a fresh copy of it is
// pruned with PruneModuleInPlace (uniform policy at ratio 0.5, the L1
// criterion, verification off) and the median wall time is reported with
// the report's parameter counts. Like Torch-Pruning, which prunes the model
// it is given, the timed call is analysis and surgery: the two FLOPs/params
// counts, channel analysis, scoring and surgery. The copy is timed on its
// own ("copy_s"); PruneModule, which leaves the caller's module untouched,
// costs about that much more. By default only channels inside residual
// blocks are pruned (the engine's default); --prune_residual_stream also
// prunes the residual stream and the stem, as Torch-Pruning does.
//
// A model that fails to load or prune gets an error row and the rest still
// run. --json prints one JSON object per model (side "pruneserve");
// otherwise a table and a one-line summary. Not a test: timing never
// decides anything.
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/pruning/pruning_engine.h"
#include "core/pruning/ratio_policy.h"
#include "core/util/allocator_pages.h"
#include "core/util/torch_status.h"
#include "nlohmann/json.hpp"

namespace {

namespace pp = pruneserve::pruning;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct ModelSpec {
  std::string name;
  std::string path;
};

// One model's result; `error` is empty when every repeat pruned.
struct Row {
  std::string name;
  std::string error;
  std::vector<double> seconds;
  std::vector<double> copy_seconds;
  std::vector<double> engine_ms;
  int64_t params_before = 0;
  int64_t params_after = 0;
  int64_t flops_before = 0;
  int64_t flops_after = 0;
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Expands the positional arguments into (name, path) pairs. Returns
// InvalidArgument for a path that is neither a file nor a directory.
absl::StatusOr<std::vector<ModelSpec>> CollectModels(
    const std::vector<std::string>& args) {
  std::vector<ModelSpec> models;
  for (const std::string& arg : args) {
    const size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      models.push_back({arg.substr(0, eq), arg.substr(eq + 1)});
      continue;
    }
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      std::vector<ModelSpec> found;
      for (const auto& entry : fs::directory_iterator(arg, ec)) {
        if (entry.is_regular_file() && entry.path().extension() == ".pt") {
          found.push_back(
              {entry.path().stem().string(), entry.path().string()});
        }
      }
      std::sort(found.begin(), found.end(),
                [](const ModelSpec& a, const ModelSpec& b) {
                  return a.name < b.name;
                });
      models.insert(models.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(arg, ec)) {
      models.push_back({fs::path(arg).stem().string(), arg});
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(arg, " is not NAME=PATH, a file or a directory"));
    }
  }
  return models;
}

absl::StatusOr<torch::jit::Module> LoadModule(const std::string& path) {
  try {
    torch::jit::Module module = torch::jit::load(path);
    module.eval();
    return module;
  } catch (const std::exception& e) {
    return pruneserve::TorchErrorToStatus(e, absl::StrCat("loading ", path));
  }
}

// Runs PruneModule `repeats` times on `module`; stops at the first failure.
Row MeasureModel(const ModelSpec& spec, int repeats,
                 const pp::PruningOptions& options) {
  Row row;
  row.name = spec.name;
  auto module = LoadModule(spec.path);
  if (!module.ok()) {
    row.error = module.status().ToString();
    return row;
  }
  const std::vector<int64_t> shape = {1, 3, 32, 32};
  for (int r = 0; r < repeats; ++r) {
    // A fresh copy to prune in place, as Torch-Pruning prunes the model it
    // is given; the copy is timed on its own for reference.
    auto start = Clock::now();
    torch::jit::Module copy;
    {
      torch::NoGradGuard no_grad;
      copy = module->clone();
    }
    row.copy_seconds.push_back(SecondsSince(start));

    start = Clock::now();
    auto report = pp::PruneModuleInPlace(copy, shape, options);
    const double seconds = SecondsSince(start);
    if (!report.ok()) {
      row.error = report.status().ToString();
      return row;
    }
    row.seconds.push_back(seconds);
    row.engine_ms.push_back(report->elapsed_ms());
    row.params_before = report->params_before();
    row.params_after = report->params_after();
    row.flops_before = report->flops_before();
    row.flops_after = report->flops_after();
  }
  return row;
}

nlohmann::json RowJson(const Row& row, int repeats) {
  nlohmann::json j = {
      {"side", "pruneserve"}, {"model", row.name}, {"repeats", repeats}};
  if (!row.error.empty()) {
    j["error"] = row.error;
    return j;
  }
  j["seconds"] = Median(row.seconds);
  j["runs"] = row.seconds;
  j["copy_seconds"] = Median(row.copy_seconds);
  j["engine_ms"] = Median(row.engine_ms);
  j["params_before"] = row.params_before;
  j["params_after"] = row.params_after;
  j["flops_before"] = row.flops_before;
  j["flops_after"] = row.flops_after;
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  // The trainer and the pruning engine free and re-allocate large buffers.
  pruneserve::KeepAllocatorPages();
  int repeats = 3;
  int threads = 2;
  bool json = false;
  bool prune_residual_stream = false;
  std::vector<std::string> positional;
  CLI::App app{"Times PruneModule on TorchScript models, one table row each."};
  app.add_option("--repeats", repeats, "Timed runs per model (median)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--threads", threads, "LibTorch intra-op and inter-op threads")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--json", json, "One JSON object per model instead of a table");
  app.add_flag("--prune_residual_stream", prune_residual_stream,
               "Prune the residual stream and stem too");
  app.add_option("models", positional, "NAME=PATH, PATH.pt or DIR")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  auto models = CollectModels(positional);
  if (!models.ok()) {
    std::fprintf(stderr, "%s\n", models.status().ToString().c_str());
    return 2;
  }
  if (models->empty()) {
    std::fprintf(stderr, "no models found\n%s", app.help().c_str());
    return 2;
  }

  // Both pools are fixed before any parallel work, as the Python peer does.
  at::set_num_threads(threads);
  try {
    at::set_num_interop_threads(threads);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "interop threads left unchanged: %s\n", e.what());
  }

  pp::PruningOptions options;
  options.criterion = pp::CriterionKind::kL1;
  options.policy.kind = pp::PolicyKind::kUniform;
  options.policy.ratio = 0.5;
  options.policy.prune_residual_stream = prune_residual_stream;
  options.verify = false;

  std::fprintf(json ? stderr : stdout,
               "PruneModule uniform 0.5, l1, input 1x3x32x32, threads=%d, "
               "median of %d, residual stream %s\n",
               threads, repeats, prune_residual_stream ? "pruned" : "kept");
  if (!json) {
    std::printf("%-16s %9s %9s %10s %14s %13s\n", "model", "seconds", "copy_s",
                "engine_ms", "params_before", "params_after");
  }
  double total = 0;
  int failed = 0;
  for (const ModelSpec& spec : *models) {
    const Row row = MeasureModel(spec, repeats, options);
    if (json) {
      std::printf("%s\n", RowJson(row, repeats).dump().c_str());
    } else if (!row.error.empty()) {
      std::printf("%-16s error: %s\n", row.name.c_str(), row.error.c_str());
    } else {
      std::printf("%-16s %9.3f %9.3f %10.1f %14lld %13lld\n", row.name.c_str(),
                  Median(row.seconds), Median(row.copy_seconds),
                  Median(row.engine_ms),
                  static_cast<long long>(row.params_before),
                  static_cast<long long>(row.params_after));
    }
    std::fflush(stdout);
    if (row.error.empty()) {
      total += Median(row.seconds);
    } else {
      ++failed;
      if (json) {
        std::fprintf(stderr, "%s: %s\n", row.name.c_str(), row.error.c_str());
      }
    }
  }
  if (!json) {
    std::printf(
        "summary: PruneModule %.3f s over the %zu models that pruned, %d "
        "failed\n",
        total, models->size() - failed, failed);
  }
  return 0;
}
