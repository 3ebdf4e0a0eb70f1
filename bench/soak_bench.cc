// Soak benchmark: the real server under mixed, hostile load for a fixed time,
// judged on what a long-running service must not do — fail a good request,
// answer a bad one with the wrong code, lose an acknowledged upload, leak
// memory, threads or descriptors, or die.
//
// bench/run_soak.sh starts the server and passes its address and pid. This
// program then measures an idle-load baseline (the same inference clients,
// nothing else running) and the soak itself, where at the same time:
//   - `--clients` threads send single-image requests back to back, a
//     `--malformed` fraction of them deliberately wrong (shape, datatype or
//     model name; each must fail with its documented code);
//   - one thread uploads models, each with its expected sha256;
//   - one pruning job runs on a Fashion-MNIST subset (a new one is submitted
//     whenever the previous one succeeds; the last is cancelled at the end);
//   - `--watchers` WatchJob streams follow that job;
//   - a second model is loaded, used once and unloaded every second.
// The server's RSS, threads and open descriptors are sampled from /proc.
//
// Prints markdown tables and a one-line summary. Exits 1 when any error was
// unintended, an acknowledged upload is missing or damaged, or the server
// died; 2 on bad flags; 3 when the run outlived its deadline (a hang: the
// server's thread stacks are printed first).
#include <dirent.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_workload.h"
#include "client/inference_client.h"
#include "client/job_client.h"
#include "client/load_generator.h"
#include "client/repository_client.h"
#include "core/util/sha256.h"

namespace {

using pruneserve::bench::kImageShape;
using pruneserve::bench::PruningJob;
using pruneserve::bench::ReadFile;
using pruneserve::bench::TorchScriptHeader;
using pruneserve::client::InferenceClient;
using pruneserve::client::JobClient;
using pruneserve::client::LoadReport;
using pruneserve::client::RepositoryClient;
namespace v1 = pruneserve::v1;

struct SoakConfig {
  // "host:port" of the running server and its pid (for /proc).
  std::string server;
  int server_pid = 0;
  // Length of the soak and of the idle-load baseline before it.
  double seconds = 60;
  double baseline_seconds = 10;
  // Concurrent inference clients (the same number in both phases).
  int clients = 64;
  // Fraction of soak requests that are deliberately malformed.
  double malformed = 0.05;
  // WatchJob streams following the running job.
  int watchers = 50;
  // TorchScript files: the served model and the one loaded and unloaded
  // every second.
  std::string serve_model;
  std::string swap_model;
  // Pause between two uploads.
  int upload_interval_ms = 250;
  // Uploaded files, the pruning job's model and data.
  pruneserve::bench::WorkloadOptions workload;
  // The run fails (exit 3) when it has not ended this long after the
  // baseline and soak should have: a hung server or client would otherwise
  // hang the bench instead of failing it.
  double watchdog_grace_seconds = 180;
};

// Ends the process with a failure when the run outlives its deadline,
// printing the server's thread stacks first (gdb, when installed) so the
// hang can be diagnosed. Owns its thread; Disarm() (or destruction) stops
// it. Thread-safe.
class Watchdog {
 public:
  Watchdog(absl::Time deadline, int server_pid)
      : deadline_(deadline),
        server_pid_(server_pid),
        thread_([this] { Run(); }) {}
  ~Watchdog() { Disarm(); }

  // Records what the run is doing, for the failure message.
  void SetStage(const std::string& stage) {
    absl::MutexLock lock(&mu_);
    stage_ = stage;
  }
  void Disarm() {
    {
      absl::MutexLock lock(&mu_);
      disarmed_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    absl::MutexLock lock(&mu_);
    auto disarmed = [this]()
                        ABSL_SHARED_LOCKS_REQUIRED(mu_) { return disarmed_; };
    if (mu_.AwaitWithDeadline(absl::Condition(&disarmed), deadline_)) return;
    std::printf(
        "FAIL: the run did not end by its deadline (stage: %s); the server "
        "or a client is hung. Server thread stacks follow when gdb is "
        "installed.\n",
        stage_.c_str());
    std::fflush(stdout);
    const std::string gdb = absl::StrCat(
        "command -v gdb >/dev/null && gdb -p ", server_pid_,
        " -batch -ex 'thread apply all bt 12' 2>/dev/null | grep -E "
        "'^(Thread|#)' | head -n 400");
    if (std::system(gdb.c_str()) != 0) {
      std::printf("(no stacks: gdb missing or not permitted)\n");
    }
    std::fflush(stdout);
    std::_Exit(3);
  }

  const absl::Time deadline_;
  const int server_pid_;
  absl::Mutex mu_;
  bool disarmed_ ABSL_GUARDED_BY(mu_) = false;
  std::string stage_ ABSL_GUARDED_BY(mu_) = "setting up";
  std::thread thread_;  // last: starts after the fields it reads
};

constexpr char kServed[] = "soak_serve";
constexpr char kSwapped[] = "soak_swap";
constexpr char kJobModel[] = "soak_job";
constexpr char kUploaded[] = "soak_upload";

// Resident memory, threads and open descriptors of one process.
struct ProcessStats {
  int64_t rss_kb = 0;
  int threads = 0;
  int fds = 0;
};

// Reads `pid`'s stats from /proc; all zero when the process is gone.
ProcessStats ReadProcessStats(int pid) {
  ProcessStats s;
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") status >> s.rss_kb;
    if (key == "Threads:") status >> s.threads;
    status.ignore(1 << 20, '\n');
  }
  if (DIR* dir = ::opendir(absl::StrCat("/proc/", pid, "/fd").c_str())) {
    while (dirent* e = ::readdir(dir)) s.fds += e->d_name[0] != '.';
    ::closedir(dir);
  }
  return s;
}

// What every activity counts. Thread-safe.
class Tally {
 public:
  // Counts an error the load did not ask for and keeps the first few.
  void Unintended(const std::string& what, const absl::Status& status) {
    unintended_.fetch_add(1);
    absl::MutexLock lock(&mu_);
    if (examples_.size() < 8) {
      examples_.push_back(absl::StrCat(what, ": ", status.ToString()));
    }
  }
  int64_t unintended() const { return unintended_.load(); }
  std::vector<std::string> examples() const {
    absl::MutexLock lock(&mu_);
    return examples_;
  }

  std::atomic<int64_t> malformed{0};
  std::atomic<int64_t> uploads{0};
  std::atomic<int64_t> jobs_succeeded{0};
  std::atomic<int64_t> jobs_cancelled{0};
  std::atomic<int64_t> watch_streams{0};
  std::atomic<int64_t> watch_events{0};
  std::atomic<int64_t> swaps{0};

 private:
  std::atomic<int64_t> unintended_{0};
  mutable absl::Mutex mu_;
  std::vector<std::string> examples_ ABSL_GUARDED_BY(mu_);
};

// Latencies of good requests of one phase.
struct Phase {
  LoadReport report;
  int64_t unintended = 0;
};

// `clients` threads sending requests until `until`; a `malformed` fraction
// of them wrong on purpose (cycling through shape, datatype and name).
Phase RunClients(const SoakConfig& c, const std::shared_ptr<grpc::Channel>& ch,
                 absl::Duration length, double malformed, Tally& tally) {
  InferenceClient inference(ch, absl::Seconds(30));
  auto raw = ::inference::GRPCInferenceService::NewStub(ch);
  const std::vector<float> image(28 * 28, 0.5f);
  const std::vector<float> short_image(27 * 28, 0.5f);
  const int64_t unintended_before = tally.unintended();
  std::vector<std::vector<absl::Duration>> latencies(c.clients);
  const absl::Time start = absl::Now();
  const absl::Time until = start + length;
  std::vector<std::thread> threads;
  for (int i = 0; i < c.clients; ++i) {
    threads.emplace_back([&, i] {
      std::mt19937 rng(i + 1);
      std::uniform_real_distribution<double> coin(0, 1);
      int64_t bad = 0;
      while (absl::Now() < until) {
        if (coin(rng) >= malformed) {
          const absl::Time t0 = absl::Now();
          auto out = inference.Infer(kServed, 0, kImageShape, image);
          if (out.ok()) {
            latencies[i].push_back(absl::Now() - t0);
          } else {
            tally.Unintended("good inference", out.status());
          }
          continue;
        }
        absl::Status got;
        absl::StatusCode want = absl::StatusCode::kInvalidArgument;
        switch (bad++ % 3) {
          case 0:  // 27 rows instead of 28
            got = inference.Infer(kServed, 0, {1, 1, 27, 28}, short_image)
                      .status();
            break;
          case 1: {  // FP32 bytes declared as FP64
            grpc::ClientContext context;
            context.set_deadline(
                absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
            ::inference::ModelInferRequest q;
            q.set_model_name(kServed);
            auto* in = q.add_inputs();
            in->set_name("input__0");
            in->set_datatype("FP64");
            for (int64_t d : kImageShape) in->add_shape(d);
            q.add_raw_input_contents(
                reinterpret_cast<const char*>(image.data()),
                image.size() * sizeof(float));
            ::inference::ModelInferResponse r;
            got = pruneserve::client::FromGrpcStatus(
                raw->ModelInfer(&context, q, &r));
            break;
          }
          default:
            got = inference.Infer("soak_no_such_model", 0, kImageShape, image)
                      .status();
            want = absl::StatusCode::kNotFound;
        }
        tally.malformed.fetch_add(1);
        if (got.code() != want) {
          tally.Unintended(absl::StrCat("malformed request (want ",
                                        absl::StatusCodeToString(want), ")"),
                           got);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  Phase phase;
  phase.report.wall = absl::Now() - start;
  for (auto& l : latencies) {
    phase.report.latencies.insert(phase.report.latencies.end(), l.begin(),
                                  l.end());
  }
  std::sort(phase.report.latencies.begin(), phase.report.latencies.end());
  phase.report.ok = phase.report.latencies.size();
  phase.unintended = tally.unintended() - unintended_before;
  return phase;
}

// The job that is running now, for the watchers. Thread-safe.
class CurrentJob {
 public:
  void Set(const std::string& id) {
    absl::MutexLock lock(&mu_);
    id_ = id;
  }
  void Finish() {
    absl::MutexLock lock(&mu_);
    finished_ = true;
  }
  // Blocks until a job other than `seen` runs (returns its id) or the soak
  // is over (returns "").
  std::string Next(const std::string& seen) {
    absl::MutexLock lock(&mu_);
    auto changed = [&] {
      mu_.AssertHeld();
      return finished_ || (!id_.empty() && id_ != seen);
    };
    mu_.Await(absl::Condition(&changed));
    return finished_ ? "" : id_;
  }

 private:
  absl::Mutex mu_;
  std::string id_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// Keeps one pruning job running until `stop`, then cancels it and waits for
// its end. A FAILED job is an unintended error.
void DriveJobs(const SoakConfig& c, JobClient& jobs,
               const std::atomic<bool>& stop, CurrentJob& current,
               Tally& tally) {
  while (!stop.load()) {
    auto job = jobs.Submit(PruningJob(c.workload, kJobModel, 1));
    if (!job.ok()) {
      tally.Unintended("job submit", job.status());
      absl::SleepFor(absl::Seconds(1));
      continue;
    }
    current.Set(job->id());
    bool cancelled = false;
    while (job->state() == v1::JOB_STATE_QUEUED ||
           job->state() == v1::JOB_STATE_RUNNING) {
      if (stop.load() && !cancelled) {
        cancelled = true;
        auto c = jobs.Cancel(job->id());
        // The job may have finished just before the cancel.
        if (!c.ok() &&
            c.status().code() != absl::StatusCode::kFailedPrecondition) {
          tally.Unintended("job cancel", c.status());
        }
      }
      absl::SleepFor(absl::Milliseconds(250));
      auto now = jobs.Get(job->id());
      if (!now.ok()) {
        tally.Unintended("job get", now.status());
        continue;
      }
      job = std::move(now);
    }
    if (job->state() == v1::JOB_STATE_SUCCEEDED) {
      tally.jobs_succeeded.fetch_add(1);
    } else if (job->state() == v1::JOB_STATE_CANCELLED && cancelled) {
      tally.jobs_cancelled.fetch_add(1);
    } else {
      tally.Unintended(
          absl::StrCat("job ", job->id()),
          absl::Status(static_cast<absl::StatusCode>(job->error_code()),
                       absl::StrCat(v1::JobState_Name(job->state()), ": ",
                                    job->error_message())));
    }
  }
  current.Finish();
}

// Follows every job `current` announces until the soak is over.
void Watch(JobClient& jobs, CurrentJob& current, Tally& tally) {
  std::string seen;
  for (std::string id = current.Next(seen); !id.empty();
       id = current.Next(seen)) {
    seen = id;
    tally.watch_streams.fetch_add(1);
    auto last = jobs.Watch(id, [&](const v1::Job&) {
      tally.watch_events.fetch_add(1);
      return true;
    });
    if (!last.ok()) tally.Unintended("WatchJob", last.status());
  }
}

struct Upload {
  int64_t version = 0;
  std::string sha256;
};

// Uploads the files in turn until `stop`; returns what was acknowledged.
std::vector<Upload> UploadLoop(const SoakConfig& c, RepositoryClient& repo,
                               const std::atomic<bool>& stop, Tally& tally) {
  std::vector<std::string> digests;
  const auto& files = c.workload.upload_models;
  for (const auto& path : files) {
    digests.push_back(pruneserve::Sha256Hex(ReadFile(path)));
  }
  std::vector<Upload> acked;
  for (size_t i = 0; !stop.load(); ++i) {
    const size_t k = i % files.size();
    auto stored =
        repo.Upload(TorchScriptHeader(kUploaded, digests[k]), files[k]);
    if (stored.ok()) {
      acked.push_back({stored->version(), digests[k]});
      tally.uploads.fetch_add(1);
    } else {
      tally.Unintended("upload", stored.status());
    }
    absl::SleepFor(absl::Milliseconds(c.upload_interval_ms));
  }
  return acked;
}

// Loads the second model, serves one request from it and unloads it, once a
// second until `stop`.
void SwapLoop(InferenceClient& inference, const std::atomic<bool>& stop,
              Tally& tally) {
  const std::vector<float> image(28 * 28, 0.25f);
  for (absl::Time tick = absl::Now(); !stop.load(); tick += absl::Seconds(1)) {
    absl::SleepFor(tick - absl::Now());
    absl::Status s = inference.Load(kSwapped, {});
    if (s.ok()) s = inference.Infer(kSwapped, 0, kImageShape, image).status();
    absl::Status u = inference.Unload(kSwapped, 0);
    if (!s.ok()) tally.Unintended("load+infer of the second model", s);
    if (!u.ok()) tally.Unintended("unload of the second model", u);
    if (s.ok() && u.ok()) tally.swaps.fetch_add(1);
  }
}

// Counts acknowledged uploads that are listed and download with their
// sha256; reports each that is not.
int64_t CountIntact(RepositoryClient& repo, const std::vector<Upload>& acked,
                    const std::string& scratch, Tally& tally) {
  int64_t intact = 0;
  for (const Upload& u : acked) {
    auto got = repo.Download(kUploaded, u.version, scratch);
    if (got.ok() && got->sha256() == u.sha256 &&
        pruneserve::Sha256Hex(ReadFile(scratch)) == u.sha256) {
      ++intact;
    } else {
      tally.Unintended(
          absl::StrCat("acknowledged upload ", kUploaded, ":", u.version),
          got.ok() ? absl::DataLossError("sha256 differs") : got.status());
    }
  }
  std::remove(scratch.c_str());
  return intact;
}

// Samples the server's stats until `stop`, keeping the peaks.
void Sample(int pid, const std::atomic<bool>& stop, ProcessStats& peak,
            std::atomic<bool>& died) {
  while (!stop.load()) {
    if (::kill(pid, 0) != 0) {
      died = true;
      return;
    }
    ProcessStats s = ReadProcessStats(pid);
    peak.rss_kb = std::max(peak.rss_kb, s.rss_kb);
    peak.threads = std::max(peak.threads, s.threads);
    peak.fds = std::max(peak.fds, s.fds);
    absl::SleepFor(absl::Milliseconds(100));
  }
}

absl::Status Prepare(const SoakConfig& c, RepositoryClient& repo,
                     InferenceClient& inference) {
  for (const auto& [name, path] :
       {std::pair<std::string, std::string>{kServed, c.serve_model},
        {kSwapped, c.swap_model},
        {kJobModel, c.workload.job_model}}) {
    auto stored = repo.Upload(TorchScriptHeader(name), path);
    if (!stored.ok()) return stored.status();
  }
  return inference.Load(kServed, {});
}

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }
double Ratio(double a, double b) { return b > 0 ? a / b : 0; }

}  // namespace

int main(int argc, char** argv) {
  SoakConfig c;
  CLI::App app{"Soak benchmark against a running pruneserve."};
  app.add_option("--server", c.server, "host:port of the server")->required();
  app.add_option("--server_pid", c.server_pid, "Its pid, for /proc")
      ->required();
  app.add_option("--seconds", c.seconds, "Soak length")->capture_default_str();
  app.add_option("--baseline_seconds", c.baseline_seconds,
                 "Idle-load baseline length")
      ->capture_default_str();
  app.add_option("--clients", c.clients, "Concurrent inference clients")
      ->capture_default_str();
  app.add_option("--malformed", c.malformed,
                 "Fraction of soak requests that are malformed")
      ->capture_default_str();
  app.add_option("--watchers", c.watchers, "WatchJob streams")
      ->capture_default_str();
  app.add_option("--serve_model", c.serve_model, "Served TorchScript file")
      ->required();
  app.add_option("--swap_model", c.swap_model,
                 "TorchScript file loaded and unloaded every second")
      ->required();
  app.add_option("--upload_interval_ms", c.upload_interval_ms,
                 "Pause between uploads")
      ->capture_default_str();
  app.add_option("--watchdog_grace_seconds", c.watchdog_grace_seconds,
                 "Fail (exit 3, with the server's thread stacks) when the run "
                 "has not ended this long after baseline + soak")
      ->capture_default_str();
  pruneserve::bench::AddWorkloadFlags(app, c.workload);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  Watchdog watchdog(absl::Now() + absl::Seconds(c.baseline_seconds + c.seconds +
                                                c.watchdog_grace_seconds),
                    c.server_pid);
  auto channel = pruneserve::client::MakeChannel(c.server);
  RepositoryClient repo(channel);
  InferenceClient inference(channel, absl::Seconds(30));
  JobClient jobs(channel);
  if (absl::Status s = Prepare(c, repo, inference); !s.ok()) {
    std::fprintf(stderr, "soak: setting up models failed: %s\n",
                 s.ToString().c_str());
    return 1;
  }
  Tally tally;
  absl::SleepFor(absl::Seconds(1));
  const ProcessStats start = ReadProcessStats(c.server_pid);
  ProcessStats peak = start;
  std::atomic<bool> sampling_done{false};
  std::atomic<bool> died{false};
  std::thread sampler([&] { Sample(c.server_pid, sampling_done, peak, died); });

  std::printf("== idle-load baseline: %d clients, %.0f s, good requests only\n",
              c.clients, c.baseline_seconds);
  std::fflush(stdout);
  watchdog.SetStage("idle-load baseline");
  Phase idle =
      RunClients(c, channel, absl::Seconds(c.baseline_seconds), 0, tally);
  watchdog.SetStage("soak");

  std::printf(
      "== soak: %d clients (%.0f%% malformed), %.0f s, with uploads, a "
      "pruning job, %d WatchJob streams and a load/unload every second\n",
      c.clients, 100 * c.malformed, c.seconds, c.watchers);
  std::fflush(stdout);
  std::atomic<bool> stop{false};
  CurrentJob current;
  std::vector<Upload> acked;
  std::vector<std::thread> background;
  background.emplace_back([&] { acked = UploadLoop(c, repo, stop, tally); });
  background.emplace_back([&] { SwapLoop(inference, stop, tally); });
  background.emplace_back([&] { DriveJobs(c, jobs, stop, current, tally); });
  for (int i = 0; i < c.watchers; ++i) {
    background.emplace_back([&] { Watch(jobs, current, tally); });
  }
  Phase soak =
      RunClients(c, channel, absl::Seconds(c.seconds), c.malformed, tally);
  stop = true;
  watchdog.SetStage("stopping uploads, job, watchers and swaps");
  for (auto& t : background) t.join();
  watchdog.SetStage("checking uploads");

  const int64_t intact =
      CountIntact(repo, acked, "/tmp/soak_bench_download.pt", tally);
  // Let the server drop finished streams and connections before the end
  // sample.
  absl::SleepFor(absl::Seconds(2));
  sampling_done = true;
  sampler.join();
  const ProcessStats end = ReadProcessStats(c.server_pid);
  const bool alive = !died && ::kill(c.server_pid, 0) == 0;
  watchdog.Disarm();

  std::printf(
      "\n| phase | good requests | requests/s | p50 ms | p99 ms | unintended "
      "errors |\n|---|---|---|---|---|---|\n");
  for (const auto& [label, p] :
       {std::pair<std::string, const Phase*>{"idle-load baseline", &idle},
        {"soak", &soak}}) {
    std::printf("| %s | %lld | %.0f | %.2f | %.2f | %lld |\n", label.c_str(),
                static_cast<long long>(p->report.ok),
                p->report.requests_per_second(), Ms(p->report.Percentile(0.5)),
                Ms(p->report.Percentile(0.99)),
                static_cast<long long>(p->unintended));
  }
  const double p50_ratio =
      Ratio(Ms(soak.report.Percentile(0.5)), Ms(idle.report.Percentile(0.5)));
  const double p99_ratio =
      Ratio(Ms(soak.report.Percentile(0.99)), Ms(idle.report.Percentile(0.99)));
  std::printf("| soak / baseline | | %.2fx | %.2fx | %.2fx | |\n",
              Ratio(soak.report.requests_per_second(),
                    idle.report.requests_per_second()),
              p50_ratio, p99_ratio);

  std::printf(
      "\n| activity during the soak | count |\n|---|---|\n"
      "| malformed requests, refused with the right code | %lld |\n"
      "| uploads acknowledged / intact after the soak | %lld / %lld |\n"
      "| pruning jobs succeeded / cancelled at the end | %lld / %lld |\n"
      "| WatchJob streams opened / events received | %lld / %lld |\n"
      "| load + infer + unload cycles of the second model | %lld |\n",
      static_cast<long long>(tally.malformed.load()),
      static_cast<long long>(acked.size()), static_cast<long long>(intact),
      static_cast<long long>(tally.jobs_succeeded.load()),
      static_cast<long long>(tally.jobs_cancelled.load()),
      static_cast<long long>(tally.watch_streams.load()),
      static_cast<long long>(tally.watch_events.load()),
      static_cast<long long>(tally.swaps.load()));

  std::printf(
      "\n| server (pid %d) | start | peak | end |\n|---|---|---|---|\n"
      "| RSS MiB | %.0f | %.0f | %.0f |\n| threads | %d | %d | %d |\n"
      "| open fds | %d | %d | %d |\n",
      c.server_pid, start.rss_kb / 1024.0, peak.rss_kb / 1024.0,
      end.rss_kb / 1024.0, start.threads, peak.threads, end.threads, start.fds,
      peak.fds, end.fds);

  for (const auto& e : tally.examples()) {
    std::printf("unintended: %s\n", e.c_str());
  }
  const bool ok = tally.unintended() == 0 && alive && soak.report.ok > 0 &&
                  intact == static_cast<int64_t>(acked.size());
  std::printf(
      "summary: %lld unintended errors, p50 %.2f -> %.2f ms (%.2fx), p99 "
      "%.2f -> %.2f ms (%.2fx) under soak, RSS %.0f/%.0f/%.0f MiB "
      "start/peak/end, threads %d -> %d, fds %d -> %d, server %s: %s\n",
      static_cast<long long>(tally.unintended()),
      Ms(idle.report.Percentile(0.5)), Ms(soak.report.Percentile(0.5)),
      p50_ratio, Ms(idle.report.Percentile(0.99)),
      Ms(soak.report.Percentile(0.99)), p99_ratio, start.rss_kb / 1024.0,
      peak.rss_kb / 1024.0, end.rss_kb / 1024.0, start.threads, end.threads,
      start.fds, end.fds, alive ? "alive" : "DEAD", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
