// Serving benchmark: what the gRPC service costs on top of plain LibTorch,
// how latency grows with concurrent clients, and what pruning buys in
// served frames per second. It starts the real `pruneserve` binary on a free
// loopback port with a private data directory, uploads zoo models through
// the repository client and drives them with the project's load generator.
//
//   1. Efficiency: images/s of the service over loopback gRPC against the
//      same TorchScript model run in this process (same intra-op threads,
//      same batch, one thread per server instance), alternated A B A B and
//      reported as medians with the gRPC / in-process ratio.
//   2. Latency: p50/p90/p99 and images/s at 1, 8 and 32 clients sending
//      single images, so the dynamic batcher has something to merge.
//   3. Pruned vs dense: the large model and a copy pruned by the engine
//      (L1 criterion, uniform ratio) served side by side, fps next to the
//      FLOPs ratio.
//
// Prints markdown tables and a one-line summary per part. Not a test:
// nothing here decides pass or fail. `--help` lists the flags.
#include <ATen/Parallel.h>
#include <signal.h>
#include <sys/resource.h>
#include <torch/script.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/inference_client.h"
#include "client/load_generator.h"
#include "client/repository_client.h"
#include "core/models/model_zoo.h"
#include "core/pruning/flops_counter.h"
#include "core/pruning/pruning_engine.h"
#include "core/util/subprocess.h"
#include "core/util/torch_status.h"

namespace {

namespace fs = std::filesystem;
using pruneserve::StreamTarget;
using pruneserve::Subprocess;
using pruneserve::SubprocessOptions;
using pruneserve::client::InferenceClient;
using pruneserve::client::LoadGeneratorOptions;
using pruneserve::client::LoadReport;
using pruneserve::client::RepositoryClient;

struct BenchConfig {
  // Short phases and fewer rounds (about half a minute in all).
  bool quick = false;
  // The pruneserve binary; empty = <build>/server/pruneserve next to this
  // benchmark's <build>/bench/.
  std::string server;
  // Server instances per model and in-process threads.
  int instances = 1;
  // LibTorch intra-op threads on both sides; 0 = max(1, cores / instances).
  int threads = 0;
  // Images per request (part 1 and 3) and the server's max batch size.
  int64_t batch = 8;
  // Clients in flight for parts 1 and 3; 0 = 2 x instances, so an instance
  // never waits for the network between batches.
  int clients = 0;
  // Alternating rounds per measurement (median reported); 0 = 3, quick 2.
  int rounds = 0;
  // Seconds per timed phase; 0 = 4, quick 1.5.
  double seconds = 0;
  // Width multiplier of the large model (vgg13_bn).
  double vgg_width = 1.0;
  // Uniform pruning ratio for part 3 (about half the MACs stay at 0.3).
  double prune_ratio = 0.3;
  // How long a request waits for others to join its batch (server flag).
  int64_t batch_delay_us = 500;
  // Server RPC threads. A synchronous handler holds its thread while the
  // request waits in the batcher, so this must exceed the 32 clients of
  // part 2 (the daemon's default of 16 answers the rest with
  // RESOURCE_EXHAUSTED "Server Threadpool Exhausted").
  int rpc_threads = 64;
};

struct ZooModel {
  std::string label;  // e.g. "vgg13_bn x1.0"
  std::string name;   // repository name
  std::string path;   // saved TorchScript
  int64_t macs = 0;   // per image
  int64_t params = 0;
};

const std::vector<int64_t> kImageShape = {1, 1, 28, 28};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// CPU time (user + system) of this process, all threads.
double SelfCpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return absl::StrCat(a, " ", b, " ", c);
}

// The real daemon as a child process. Not thread-safe; the destructor stops
// a still-running child with SIGTERM and reaps it.
class ChildServer {
 public:
  // Starts `binary` with `flags` and blocks until it prints its serving
  // line (UNAVAILABLE with the stderr tail if it exits or 120 s pass).
  static absl::StatusOr<std::unique_ptr<ChildServer>> Start(
      const std::string& binary, std::vector<std::string> flags,
      const std::string& stderr_path) {
    auto child = std::unique_ptr<ChildServer>(new ChildServer());
    SubprocessOptions options;
    options.argv = {binary};
    for (auto& f : flags) options.argv.push_back(std::move(f));
    options.env = Subprocess::CurrentEnvironment();
    options.stdin_target = StreamTarget::Inherit();
    options.stdout_target = StreamTarget::Pipe();
    options.stderr_target = StreamTarget::File(stderr_path);
    options.new_process_group = false;
    auto process = Subprocess::Start(std::move(options));
    if (!process.ok()) return process.status();
    child->process_ = *std::move(process);
    const absl::Time deadline = absl::Now() + absl::Seconds(120);
    while (true) {
      // Ends when the child exits (the pipe closes) or at the deadline.
      auto line = child->process_->ReadStdoutLine(deadline);
      if (!line.ok()) break;
      if (std::sscanf(line->c_str(), "pruneserve: serving grpc_port=%d",
                      &child->port_) == 1) {
        return child;
      }
    }
    std::ifstream err(stderr_path);
    std::stringstream text;
    text << err.rdbuf();
    return absl::UnavailableError(
        absl::StrCat(binary, " did not start: ", text.str()));
  }

  ~ChildServer() {
    // Wait() reads stdout until the daemon exits: it must never write into
    // a closed pipe.
    if (process_ == nullptr) return;
    (void)process_->Signal(SIGTERM);
    (void)process_->Wait();
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

  // CPU time (user + system) the child used so far, from /proc; 0 when it
  // cannot be read.
  double CpuSeconds() const {
    std::ifstream in(absl::StrCat("/proc/", process_->pid(), "/stat"));
    std::string text((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    // Fields after the parenthesised command name: state is field 3, utime
    // and stime are fields 14 and 15.
    const size_t close = text.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream rest(text.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14) utime = std::atof(field.c_str());
      if (i == 15) stime = std::atof(field.c_str());
    }
    return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }

 private:
  ChildServer() = default;
  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
};

// Builds a zoo model for 1x28x28 inputs, optionally prunes it, saves it
// under `dir` and counts its cost per image.
absl::StatusOr<ZooModel> MakeModel(const std::string& arch, double width,
                                   double prune_ratio, const std::string& dir) {
  pruneserve::models::ZooOptions zoo;
  zoo.arch = arch;
  zoo.in_channels = 1;
  zoo.input_size = 28;
  zoo.width_multiplier = width;
  zoo.seed = 1;
  auto module = pruneserve::models::BuildZooModel(zoo);
  if (!module.ok()) return module.status();
  module->eval();
  ZooModel m;
  m.label = absl::StrFormat("%s x%.2g", arch, width);
  m.name = absl::StrFormat("%s_w%d", arch, static_cast<int>(width * 100));
  torch::jit::Module served = *module;
  if (prune_ratio > 0) {
    pruneserve::pruning::PruningOptions options;
    options.criterion = pruneserve::pruning::CriterionKind::kL1;
    options.policy.kind = pruneserve::pruning::PolicyKind::kUniform;
    options.policy.ratio = prune_ratio;
    auto pruned =
        pruneserve::pruning::PruneModule(*module, kImageShape, options);
    if (!pruned.ok()) return pruned.status();
    served = pruned->module;
    m.label += absl::StrFormat(" pruned (l1, uniform %.2g)", prune_ratio);
    m.name += "_pruned";
  }
  auto cost = pruneserve::pruning::CountModelCost(served, kImageShape);
  if (!cost.ok()) return cost.status();
  m.macs = cost->total_macs;
  m.params = cost->total_params;
  m.path = absl::StrCat(dir, "/", m.name, ".pt");
  try {
    served.save(m.path);
  } catch (const std::exception& e) {
    return pruneserve::TorchErrorToStatus(e, absl::StrCat("save ", m.path),
                                          absl::StatusCode::kInternal);
  }
  return m;
}

// In-process LibTorch baseline: one copy of the module per thread (as each
// server instance has its own session), loaded once so every timed phase
// runs already-optimised graphs. Not thread-safe; Run() uses the threads.
class InProcessRunner {
 public:
  static absl::StatusOr<std::unique_ptr<InProcessRunner>> Create(
      const std::string& path, int threads, int64_t batch) {
    auto runner = std::unique_ptr<InProcessRunner>(new InProcessRunner());
    runner->batch_ = batch;
    try {
      for (int i = 0; i < threads; ++i) {
        runner->modules_.push_back(torch::jit::load(path, torch::kCPU));
        runner->modules_.back().eval();
      }
      runner->input_ = torch::full(
          {batch, kImageShape[1], kImageShape[2], kImageShape[3]}, 0.5f);
    } catch (const std::exception& e) {
      return pruneserve::TorchErrorToStatus(e, absl::StrCat("load ", path));
    }
    return runner;
  }

  // Every thread runs forward on the fixed batch back to back under
  // InferenceMode for `duration`. Returns images/s; INTERNAL when a forward
  // throws. Blocks for `duration` plus one batch.
  absl::StatusOr<double> Run(absl::Duration duration) {
    std::atomic<int64_t> images{0};
    std::atomic<bool> failed{false};
    const absl::Time start = absl::Now();
    const absl::Time stop_at = start + duration;
    std::vector<std::thread> workers;
    for (auto& module : modules_) {
      workers.emplace_back([&] {
        try {
          c10::InferenceMode guard;
          while (absl::Now() < stop_at) {
            at::Tensor out = module.forward({input_}).toTensor().contiguous();
            // The server copies every output into its response; so do we.
            std::vector<float> copy(out.data_ptr<float>(),
                                    out.data_ptr<float>() + out.numel());
            images.fetch_add(batch_);
          }
        } catch (const std::exception&) {
          failed = true;
        }
      });
    }
    for (auto& t : workers) t.join();
    if (failed) return absl::InternalError("in-process forward failed");
    return images.load() / absl::ToDoubleSeconds(absl::Now() - start);
  }

 private:
  InProcessRunner() = default;
  std::vector<torch::jit::Module> modules_;
  at::Tensor input_;
  int64_t batch_ = 1;
};

// Runs the load generator against `name` with `clients` threads sending
// `batch` images per request for `duration`. FAILED_PRECONDITION carrying
// the first error when any request failed.
absl::StatusOr<LoadReport> GrpcLoad(InferenceClient& client,
                                    const std::string& name, int clients,
                                    int64_t batch, absl::Duration duration) {
  std::vector<int64_t> shape = kImageShape;
  shape[0] = batch;
  const std::vector<float> values(
      batch * kImageShape[1] * kImageShape[2] * kImageShape[3], 0.5f);
  LoadGeneratorOptions options;
  options.concurrency = clients;
  options.duration = duration;
  options.batch = batch;
  LoadReport report = pruneserve::client::RunLoad(
      options, [&] { return client.Infer(name, 0, shape, values).status(); });
  if (report.failed > 0 || report.ok == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        name, ": ", report.failed, " of ", report.ok + report.failed,
        " requests failed, first: ", report.first_error));
  }
  return report;
}

absl::Status Upload(RepositoryClient& repo, InferenceClient& inference,
                    const ZooModel& m, const BenchConfig& c) {
  pruneserve::v1::UploadModelHeader header;
  header.set_name(m.name);
  header.set_format(pruneserve::v1::MODEL_FORMAT_TORCHSCRIPT);
  for (int64_t d : kImageShape) header.add_example_input_shape(d);
  auto stored = repo.Upload(header, m.path);
  if (!stored.ok()) return stored.status();
  pruneserve::client::LoadOptions load;
  load.instances = c.instances;
  load.max_batch_size = c.batch;
  return inference.Load(m.name, load);
}

// Open interval (0, 1).
std::string StrictFraction(const std::string& text) {
  double v = 0;
  return absl::SimpleAtod(text, &v) && v > 0 && v < 1
             ? std::string()
             : "must be in (0, 1), got " + text;
}

// Parses the flags into `c` and fills the derived defaults. Returns the exit
// code when main should stop (2 on a bad flag, 0 after --help).
std::optional<int> ParseArgs(int argc, char** argv, BenchConfig* c) {
  CLI::App app{
      "Serving benchmark: the real daemon against in-process "
      "LibTorch."};
  app.add_flag("--quick", c->quick,
               "Short phases and fewer rounds (about half a minute)");
  app.add_option("--server", c->server,
                 "pruneserve binary (default: <build>/server/pruneserve)");
  app.add_option("--instances", c->instances,
                 "Server instances per model and in-process threads")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--threads", c->threads,
                 "LibTorch intra-op threads on both sides; 0 = cores / "
                 "instances")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--batch", c->batch, "Images per request; server max batch")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--clients", c->clients,
                 "Clients in flight for parts 1 and 3; 0 = 2 x instances")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--rounds", c->rounds,
                 "Alternating rounds per measurement; 0 = 3, quick 2")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--seconds", c->seconds,
                 "Seconds per timed phase; 0 = 4, quick 1.5")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--vgg_width", c->vgg_width,
                 "Width multiplier of the large model (vgg13_bn)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--prune_ratio", c->prune_ratio,
                 "Uniform pruning ratio for part 3")
      ->check(StrictFraction)
      ->capture_default_str();
  app.add_option("--rpc_threads", c->rpc_threads, "Server RPC threads")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--batch_delay_us", c->batch_delay_us,
                 "How long a request waits for others to join its batch")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (c->server.empty()) {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    c->server =
        (self.parent_path().parent_path() / "server" / "pruneserve").string();
  }
  if (c->threads == 0) {
    const int cores = static_cast<int>(std::thread::hardware_concurrency());
    c->threads = std::max(1, cores / c->instances);
  }
  if (c->clients == 0) c->clients = 2 * c->instances;
  if (c->rounds == 0) c->rounds = c->quick ? 2 : 3;
  if (c->seconds == 0) c->seconds = c->quick ? 1.5 : 4.0;
  return std::nullopt;
}

int Fail(const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "serving_bench: %s: %s\n", what.c_str(),
               s.ToString().c_str());
  return 1;
}

// Removes the temporary directory on every exit path.
struct ScratchDir {
  std::string path;
  ~ScratchDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

}  // namespace

int main(int argc, char** argv) {
  BenchConfig c;
  if (auto exit_code = ParseArgs(argc, argv, &c)) return *exit_code;
  at::set_num_threads(c.threads);

  std::string pattern =
      (fs::temp_directory_path() / "serving_bench.XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return Fail("mkdtemp", absl::InternalError(pattern));
  }
  ScratchDir scratch{pattern};
  const std::string load_before = LoadAverage();
  const absl::Duration phase = absl::Seconds(c.seconds);
  std::printf(
      "mode %s: %d instance(s) x %d intra-op thread(s), batch %lld, %d "
      "client(s) for throughput, %d round(s) of %.1f s, batch delay %lld us, "
      "%d server RPC threads, %u cores, load average %s\n\n",
      c.quick ? "quick" : "full", c.instances, c.threads,
      static_cast<long long>(c.batch), c.clients, c.rounds, c.seconds,
      static_cast<long long>(c.batch_delay_us), c.rpc_threads,
      std::thread::hardware_concurrency(), load_before.c_str());

  auto vgg = MakeModel("vgg13_bn", c.vgg_width, 0, scratch.path);
  if (!vgg.ok()) return Fail("vgg13_bn", vgg.status());
  auto small = MakeModel("resnet20", 1.0, 0, scratch.path);
  if (!small.ok()) return Fail("resnet20", small.status());
  auto pruned = MakeModel("vgg13_bn", c.vgg_width, c.prune_ratio, scratch.path);
  if (!pruned.ok()) return Fail("pruned vgg13_bn", pruned.status());

  auto server = ChildServer::Start(
      c.server,
      {"--listen=127.0.0.1:0",
       "--metrics_listen=", "--data_dir=" + scratch.path + "/data",
       absl::StrCat("--instances=", c.instances),
       absl::StrCat("--intra_op_threads=", c.threads),
       absl::StrCat("--max_batch_size=", c.batch),
       absl::StrCat("--batch_delay_us=", c.batch_delay_us),
       absl::StrCat("--rpc_threads=", c.rpc_threads)},
      scratch.path + "/pruneserve.stderr.log");
  if (!server.ok()) return Fail("start", server.status());
  auto channel = pruneserve::client::MakeChannel((*server)->address());
  RepositoryClient repo(channel);
  InferenceClient inference(channel);
  for (const ZooModel* m : {&*vgg, &*small, &*pruned}) {
    absl::Status s = Upload(repo, inference, *m, c);
    if (!s.ok()) return Fail(absl::StrCat("upload/load ", m->name), s);
  }

  // Warm both sides up (TorchScript optimises on the first calls; gRPC
  // opens its connection).
  std::vector<std::unique_ptr<InProcessRunner>> local_runners;
  for (const ZooModel* m : {&*vgg, &*small}) {
    auto runner = InProcessRunner::Create(m->path, c.instances, c.batch);
    if (!runner.ok()) return Fail("in-process", runner.status());
    auto in = (*runner)->Run(absl::Milliseconds(500));
    if (!in.ok()) return Fail("warm-up", in.status());
    local_runners.push_back(*std::move(runner));
  }
  for (const ZooModel* m : {&*vgg, &*small, &*pruned}) {
    auto grpc = GrpcLoad(inference, m->name, c.clients, c.batch,
                         absl::Milliseconds(500));
    if (!grpc.ok()) return Fail("warm-up", grpc.status());
  }

  // Part 1: efficiency, A B A B.
  std::printf(
      "## Serving efficiency: gRPC loopback vs in-process LibTorch\n\n");
  std::printf(
      "| model | MMACs/img | batch | instances x threads | in-process img/s | "
      "gRPC img/s | gRPC / in-process | in-process img/cpu-s | gRPC "
      "img/cpu-s | per-CPU ratio |\n"
      "|---|---|---|---|---|---|---|---|---|---|\n");
  std::vector<std::string> ratios;
  ChildServer& child = **server;
  for (size_t i = 0; i < local_runners.size(); ++i) {
    const ZooModel* m = i == 0 ? &*vgg : &*small;
    // Throughput, and images per CPU-second of every process involved
    // (this one for in-process; this one as client plus the daemon for
    // gRPC), which other users of a shared machine disturb far less.
    std::vector<double> local, remote, local_cpu, remote_cpu;
    for (int r = 0; r < c.rounds; ++r) {
      double cpu0 = SelfCpuSeconds();
      const absl::Time t0 = absl::Now();
      auto in = local_runners[i]->Run(phase);
      if (!in.ok()) return Fail("in-process", in.status());
      const double wall = absl::ToDoubleSeconds(absl::Now() - t0);
      local.push_back(*in);
      local_cpu.push_back(*in * wall / (SelfCpuSeconds() - cpu0));
      cpu0 = SelfCpuSeconds() + child.CpuSeconds();
      auto grpc = GrpcLoad(inference, m->name, c.clients, c.batch, phase);
      if (!grpc.ok()) return Fail("grpc", grpc.status());
      remote.push_back(grpc->images_per_second(c.batch));
      remote_cpu.push_back(grpc->ok * c.batch /
                           (SelfCpuSeconds() + child.CpuSeconds() - cpu0));
    }
    const double ratio = Median(remote) / Median(local);
    const double cpu_ratio = Median(remote_cpu) / Median(local_cpu);
    std::printf(
        "| %s | %.1f | %lld | %d x %d | %.1f | %.1f | %.3f | %.1f | %.1f | "
        "%.3f |\n",
        m->label.c_str(), m->macs / 1e6, static_cast<long long>(c.batch),
        c.instances, c.threads, Median(local), Median(remote), ratio,
        Median(local_cpu), Median(remote_cpu), cpu_ratio);
    ratios.push_back(absl::StrFormat("%.3f wall / %.3f per CPU-second (%s)",
                                     ratio, cpu_ratio, m->label));
  }
  std::printf(
      "\nsummary: gRPC/in-process throughput %s, median of %d alternating "
      "rounds; goal >= 0.9\n\n",
      absl::StrJoin(ratios, ", ").c_str(), c.rounds);

  // Part 2: latency under concurrency, single images.
  std::printf(
      "## Latency over gRPC, 1-image requests (dynamic batching up to %lld, "
      "delay %lld us)\n\n",
      static_cast<long long>(c.batch),
      static_cast<long long>(c.batch_delay_us));
  std::printf(
      "| model | clients | img/s | p50 ms | p90 ms | p99 ms |\n"
      "|---|---|---|---|---|---|\n");
  std::vector<std::string> scaling;
  auto ms = [](absl::Duration d) { return absl::ToDoubleMilliseconds(d); };
  for (const ZooModel* m : {&*vgg, &*small}) {
    double first = 0, last = 0;
    for (int clients : {1, 8, 32}) {
      auto report = GrpcLoad(inference, m->name, clients, 1, phase);
      if (!report.ok()) return Fail("latency", report.status());
      const double fps = report->images_per_second(1);
      if (clients == 1) first = fps;
      last = fps;
      std::printf("| %s | %d | %.1f | %.2f | %.2f | %.2f |\n", m->label.c_str(),
                  clients, fps, ms(report->Percentile(0.5)),
                  ms(report->Percentile(0.9)), ms(report->Percentile(0.99)));
    }
    scaling.push_back(
        absl::StrFormat("%.2fx (%s)", first > 0 ? last / first : 0, m->label));
  }
  std::printf(
      "\nsummary: 32 clients vs 1 client throughput %s, one run of %.1f s per "
      "row\n\n",
      absl::StrJoin(scaling, ", ").c_str(), c.seconds);

  // Part 3: pruned vs dense from the one server, A B A B.
  std::printf("## Pruned vs dense over gRPC\n\n");
  std::printf(
      "| model | MMACs/img | params | gRPC img/s | MACs vs dense | fps vs "
      "dense |\n|---|---|---|---|---|---|\n");
  std::vector<double> dense_fps, pruned_fps;
  for (int r = 0; r < c.rounds; ++r) {
    for (const ZooModel* m : {&*vgg, &*pruned}) {
      auto report = GrpcLoad(inference, m->name, c.clients, c.batch, phase);
      if (!report.ok()) return Fail("pruned vs dense", report.status());
      (m == &*vgg ? dense_fps : pruned_fps)
          .push_back(report->images_per_second(c.batch));
    }
  }
  const double macs_ratio = static_cast<double>(pruned->macs) / vgg->macs;
  const double fps_ratio = Median(pruned_fps) / Median(dense_fps);
  for (const ZooModel* m : {&*vgg, &*pruned}) {
    const bool dense = m == &*vgg;
    std::printf("| %s | %.1f | %lld | %.1f | %.3f | %.2fx |\n",
                m->label.c_str(), m->macs / 1e6,
                static_cast<long long>(m->params),
                Median(dense ? dense_fps : pruned_fps),
                dense ? 1.0 : macs_ratio, dense ? 1.0 : fps_ratio);
  }
  std::printf(
      "\nsummary: pruned %s keeps %.1f%% of the MACs and serves %.2fx the "
      "dense fps over gRPC (median of %d rounds)\n\n",
      vgg->label.c_str(), 100 * macs_ratio, fps_ratio, c.rounds);
  std::printf("load average: before %s, after %s\n", load_before.c_str(),
              LoadAverage().c_str());
  return 0;
}
