// What the sandbox costs an upload: validating a TorchScript archive (load,
// op deny-list, forward on the example input, FLOPs count) in the server
// process versus in a validator process (the pruneserve binary in validator
// mode, under its rlimits, seccomp filters and timeout), side by side in one
// run. Models: ResNet-18 (ImageNet size, 1000 classes, example
// [1,3,224,224]) and ResNet-20 (CIFAR size) to show the fixed cost of
// starting a validator. Both sides use one intra-op thread, the validator's
// default. Each of the 10 rounds runs in-process then validator for a
// model, alternating which goes first. Prints a table of medians and a
// one-line summary. Not a test: timing never decides anything.
#include <ATen/Parallel.h>
#include <torch/script.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/models/model_zoo.h"
#include "core/torchscript/sandboxed_torchscript_inspector.h"
#include "core/torchscript/torchscript_inspector.h"
#include "core/torchscript/torchscript_validator.h"
#include "core/torchscript/zip_archive_check.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kRounds = 10;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Milliseconds one call of `fn` takes; exits on failure.
double TimeMs(const std::string& what,
              const std::function<absl::Status()>& fn) {
  const auto t0 = Clock::now();
  const absl::Status s = fn();
  const double ms =
      std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what.c_str(), s.ToString().c_str());
    std::exit(1);
  }
  return ms;
}

struct Row {
  std::string model;
  double archive_mb = 0;
  double zip_ms = 0;
  double in_process_ms = 0;
  double validator_ms = 0;
};

}  // namespace

int main() {
  namespace ps = pruneserve;
  at::set_num_threads(1);
  const std::string dir =
      "/tmp/torchscript_validation_bench." + std::to_string(::getpid());
  std::filesystem::create_directories(dir);

  ps::SandboxedTorchScriptInspectorOptions sandboxed_options;
  sandboxed_options.validator_argv = {PRUNESERVE_BINARY,
                                      ps::kTorchScriptValidatorFlag};
  sandboxed_options.intra_op_threads = 1;
  auto sandboxed = ps::SandboxedTorchScriptInspector::Create(sandboxed_options);
  if (!sandboxed.ok()) {
    std::fprintf(stderr, "%s\n", sandboxed.status().ToString().c_str());
    return 1;
  }
  const ps::TorchScriptInspector in_process;

  struct Case {
    std::string arch;
    int64_t classes, size;
  };
  std::vector<Row> rows;
  for (const Case& c :
       {Case{"resnet18", 1000, 224}, Case{"resnet20", 10, 32}}) {
    ps::models::ZooOptions zoo;
    zoo.arch = c.arch;
    zoo.num_classes = c.classes;
    zoo.input_size = c.size;
    auto model = ps::models::BuildZooModel(zoo);
    if (!model.ok()) {
      std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
      return 1;
    }
    model->eval();
    const std::string path = dir + "/" + c.arch + ".pt";
    model->save(path);
    auto example = [&c] {
      ps::v1::ModelVersion m;
      for (int64_t d : {int64_t{1}, int64_t{3}, c.size, c.size}) {
        m.add_example_input_shape(d);
      }
      return m;
    };
    std::vector<double> zip, local, boxed;
    for (int round = 0; round < kRounds; ++round) {
      auto run_local = [&] {
        ps::v1::ModelVersion m = example();
        local.push_back(
            TimeMs("in-process", [&] { return in_process.Inspect(path, &m); }));
      };
      auto run_boxed = [&] {
        ps::v1::ModelVersion m = example();
        boxed.push_back(TimeMs(
            "validator", [&] { return (*sandboxed)->Inspect(path, &m); }));
      };
      if (round % 2 == 0) {
        run_local();
        run_boxed();
      } else {
        run_boxed();
        run_local();
      }
      zip.push_back(TimeMs("zip check", [&] {
        return ps::CheckZipArchive(path, ps::ZipArchiveLimits()).status();
      }));
    }
    Row row;
    row.model = c.arch;
    row.archive_mb =
        static_cast<double>(std::filesystem::file_size(path)) / (1 << 20);
    row.zip_ms = Median(zip);
    row.in_process_ms = Median(local);
    row.validator_ms = Median(boxed);
    rows.push_back(row);
  }
  std::filesystem::remove_all(dir);

  std::printf(
      "TorchScript upload validation, median of %d, 1 intra-op thread\n",
      kRounds);
  std::printf("%-10s %8s %9s %14s %14s %10s %7s\n", "model", "MB", "zip_ms",
              "in_process_ms", "validator_ms", "added_ms", "ratio");
  for (const Row& r : rows) {
    std::printf("%-10s %8.1f %9.2f %14.1f %14.1f %10.1f %6.2fx\n",
                r.model.c_str(), r.archive_mb, r.zip_ms, r.in_process_ms,
                r.validator_ms, r.validator_ms - r.in_process_ms,
                r.validator_ms / r.in_process_ms);
  }
  const Row& r18 = rows.front();
  std::printf(
      "summary: the validator process adds %.0f ms to a ResNet-18 upload "
      "(%.0f ms in-process vs %.0f ms boxed, %.2fx; median of %d)\n",
      r18.validator_ms - r18.in_process_ms, r18.in_process_ms, r18.validator_ms,
      r18.validator_ms / r18.in_process_ms, kRounds);
  return 0;
}
