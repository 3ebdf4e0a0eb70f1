// Fine-tuning throughput of training::Trainer on a small VGG-style network
// (the same architecture as bench/trainer_speed.py defines in PyTorch):
// random 1x28x28 images, 10 classes, SGD with Nesterov momentum and weight
// decay, cosine warm-restarts schedule stepped per iteration, cross-entropy.
// Prints a table and one "RESULT cpp ..." line per batch size, which
// bench/run_trainer_speed.sh parses.
//
//   trainer_speed_bench [--threads=1] [--steps=60] [--warmup=8]
//                       [--batches=20,64] [--graph_optimize=1]
//                       [--profiling_executor=1]
//
// The trainer keeps glibc from returning activation buffers to the kernel
// between steps (the main cost: 0.80 of Python's speed at batch 64 without
// it), clears gradients to "none" and trains through plain autograd with
// TorchScript's graph-executor optimisations off (see trainer.cc).
// --graph_optimize=0 turns the optimisations off for the rest of the
// benchmark thread and --profiling_executor=0 switches the process to the
// legacy executor, to compare executor settings with one binary.
#include <ATen/Parallel.h>
#include <time.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "core/util/allocator_pages.h"
#include "core/data/batch_source.h"
#include "core/training/trainer.h"

namespace {

using pruneserve::data::Batch;
using pruneserve::data::BatchSource;
namespace training = pruneserve::training;

// Cycles through a few pre-generated random batches so data generation is
// not timed; `steps` batches per epoch.
class RandomBatchSource : public BatchSource {
 public:
  RandomBatchSource(int64_t batch_size, int64_t steps) : steps_(steps) {
    torch::manual_seed(0);
    for (int i = 0; i < 4; ++i) {
      pool_.push_back(Batch{torch::randn({batch_size, 1, 28, 28}),
                            torch::randint(0, 10, {batch_size}, torch::kLong)});
    }
    batch_size_ = batch_size;
  }
  void StartEpoch(int64_t) override { served_ = 0; }
  absl::StatusOr<std::optional<Batch>> Next() override {
    if (served_ >= steps_) return std::optional<Batch>();
    const Batch& b = pool_[static_cast<size_t>(served_++ % 4)];
    return std::optional<Batch>(Batch{b.images, b.labels});
  }
  int64_t num_examples() const override { return steps_ * batch_size_; }
  int64_t num_classes() const override { return 10; }

 private:
  const int64_t steps_;
  int64_t batch_size_ = 0;
  int64_t served_ = 0;
  std::vector<Batch> pool_;
};

void AddConv(torch::jit::Module& m, const std::string& name, int64_t in,
             int64_t out) {
  const double std = std::sqrt(2.0 / static_cast<double>(in * 9));
  m.register_parameter(name + "_w", torch::randn({out, in, 3, 3}) * std, false);
  m.register_parameter(name + "_b", torch::zeros({out}), false);
  m.register_parameter(name + "_g", torch::ones({out}), false);
  m.register_parameter(name + "_beta", torch::zeros({out}), false);
  m.register_buffer(name + "_rm", torch::zeros({out}));
  m.register_buffer(name + "_rv", torch::ones({out}));
}

void AddLinear(torch::jit::Module& m, const std::string& name, int64_t in,
               int64_t out) {
  const double std = std::sqrt(1.0 / static_cast<double>(in));
  m.register_parameter(name + "_w", torch::randn({out, in}) * std, false);
  m.register_parameter(name + "_b", torch::zeros({out}), false);
}

// conv16-conv16-pool / conv32-conv32-pool / conv64-pool (each conv 3x3 pad 1
// with bias, BatchNorm, ReLU) -> flatten 64*3*3 -> fc 128 -> ReLU -> fc 10.
torch::jit::Module MakeSmallVgg() {
  torch::manual_seed(1);
  torch::jit::Module m("SmallVgg");
  m.register_attribute("training", c10::BoolType::get(), true);
  AddConv(m, "c1", 1, 16);
  AddConv(m, "c2", 16, 16);
  AddConv(m, "c3", 16, 32);
  AddConv(m, "c4", 32, 32);
  AddConv(m, "c5", 32, 64);
  AddLinear(m, "fc1", 64 * 3 * 3, 128);
  AddLinear(m, "fc2", 128, 10);
  m.define(R"JIT(
    def block(self, x, w, b, g, beta, rm, rv):
        y = torch.conv2d(x, w, b, [1, 1], [1, 1])
        y = torch.batch_norm(y, g, beta, rm, rv, self.training, 0.1, 1e-5,
                             True)
        return torch.relu(y)

    def forward(self, x):
        y = self.block(x, self.c1_w, self.c1_b, self.c1_g, self.c1_beta,
                       self.c1_rm, self.c1_rv)
        y = self.block(y, self.c2_w, self.c2_b, self.c2_g, self.c2_beta,
                       self.c2_rm, self.c2_rv)
        y = torch.max_pool2d(y, [2, 2])
        y = self.block(y, self.c3_w, self.c3_b, self.c3_g, self.c3_beta,
                       self.c3_rm, self.c3_rv)
        y = self.block(y, self.c4_w, self.c4_b, self.c4_g, self.c4_beta,
                       self.c4_rm, self.c4_rv)
        y = torch.max_pool2d(y, [2, 2])
        y = self.block(y, self.c5_w, self.c5_b, self.c5_g, self.c5_beta,
                       self.c5_rm, self.c5_rv)
        y = torch.max_pool2d(y, [2, 2])
        y = torch.flatten(y, 1)
        y = torch.relu(torch.linear(y, self.fc1_w, self.fc1_b))
        return torch.linear(y, self.fc2_w, self.fc2_b)
  )JIT");
  return m;
}

struct Measurement {
  double images_per_second = 0;
  // Images per second of process CPU time: less sensitive than wall time to
  // other processes on a shared machine (meaningful with --threads=1).
  double images_per_cpu_second = 0;
  double ms_per_step = 0;
};

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) +
         1e-9 * static_cast<double>(ts.tv_nsec);
}

std::optional<Measurement> Measure(int64_t batch, int threads, int64_t steps,
                                   int64_t warmup) {
  torch::jit::Module model = MakeSmallVgg();
  RandomBatchSource source(batch, warmup + steps);
  training::TrainerOptions options;
  options.epochs = 1;
  options.num_threads = threads;
  std::chrono::steady_clock::time_point t_warm, t_end;
  double cpu_warm = 0, cpu_end = 0;
  options.progress = [&](const pruneserve::Progress& p) {
    if (p.phase != pruneserve::Phase::kFinetune) return;
    if (p.step == warmup) {
      t_warm = std::chrono::steady_clock::now();
      cpu_warm = ProcessCpuSeconds();
    }
    if (p.step == warmup + steps) {
      t_end = std::chrono::steady_clock::now();
      cpu_end = ProcessCpuSeconds();
    }
  };
  auto trainer = training::Trainer::Create(&model, options);
  if (!trainer.ok()) {
    std::fprintf(stderr, "create: %s\n", trainer.status().ToString().c_str());
    return std::nullopt;
  }
  auto result = (*trainer)->Train(source);
  if (!result.ok()) {
    std::fprintf(stderr, "train: %s\n", result.status().ToString().c_str());
    return std::nullopt;
  }
  const double seconds = std::chrono::duration<double>(t_end - t_warm).count();
  Measurement m;
  m.images_per_second = static_cast<double>(steps * batch) / seconds;
  m.images_per_cpu_second =
      static_cast<double>(steps * batch) / (cpu_end - cpu_warm);
  m.ms_per_step = 1000.0 * seconds / static_cast<double>(steps);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  // The trainer and the pruning engine free and re-allocate large buffers.
  pruneserve::KeepAllocatorPages();
  int threads = 1;
  int graph_optimize = 1;
  int profiling_executor = 1;
  int64_t steps = 60, warmup = 8;
  std::vector<int64_t> batches = {20, 64};
  CLI::App app{"Trainer step speed on LibTorch."};
  app.add_option("--threads", threads, "LibTorch intra-op threads")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--steps", steps, "Timed steps per batch size")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--warmup", warmup, "Untimed steps first")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--batches", batches, "Batch sizes, comma-separated")
      ->delimiter(',')
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--graph_optimize", graph_optimize,
                 "torch::jit::setGraphExecutorOptimize (0 or 1)")
      ->capture_default_str();
  app.add_option("--profiling_executor", profiling_executor,
                 "Profiling graph executor (0 or 1)")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  at::set_num_threads(threads);
  torch::jit::setGraphExecutorOptimize(graph_optimize != 0);
  torch::jit::getProfilingMode() = profiling_executor != 0;
  torch::jit::getExecutorMode() = profiling_executor != 0;
  std::printf(
      "C++ Trainer (TorchScript SmallVgg), threads=%d, %lld timed "
      "steps after %lld warm-up, graph optimisation %s, %s executor\n",
      threads, static_cast<long long>(steps), static_cast<long long>(warmup),
      graph_optimize ? "on" : "off",
      profiling_executor ? "profiling" : "legacy");
  std::printf("%8s %14s %14s %12s\n", "batch", "images/s", "images/cpu-s",
              "ms/step");
  for (int64_t batch : batches) {
    std::optional<Measurement> m = Measure(batch, threads, steps, warmup);
    if (!m) return 1;
    std::printf("%8lld %14.1f %14.1f %12.2f\n", static_cast<long long>(batch),
                m->images_per_second, m->images_per_cpu_second, m->ms_per_step);
    std::printf(
        "RESULT cpp batch=%lld threads=%d images_per_sec=%.2f "
        "images_per_cpu_sec=%.2f\n",
        static_cast<long long>(batch), threads, m->images_per_second,
        m->images_per_cpu_second);
  }
  return 0;
}
