// Crash benchmark: SIGKILLs the real server at `--kills` random moments and
// restarts it each time on the same data directory, then checks that nothing
// acknowledged was lost and nothing was done twice.
//
// Every run of the server has an upload loop going. Each kill aims at one
// target, in a shuffled rotation:
//   upload      a random moment inside an upload;
//   prune       the job's pruning phase;
//   finetune    a random fine-tuning step;
//   checkpoint  the moment an epoch ends (its checkpoint is being written);
//   evaluate    the job's evaluation phase;
//   register    the job's result being stored as a new model version.
// Job kills go to the running job; each job takes at most
// --job_max_attempts - 1 of them and so resumes, except the first job, which
// takes --job_max_attempts and must end FAILED with the reason.
//
// After the last restart, once every job has ended:
//   - every acknowledged upload is listed and downloads with its sha256;
//   - every job SUCCEEDED exactly once (one result version carries its id),
//     directly or after resuming, or FAILED naming --job_max_attempts;
//   - after a second, graceful start: no file left in tmp/, no blob that no
//     version references, no work directory of a finished job.
// Prints the figures and a one-line summary; exits 1 when a check fails,
// 2 on bad flags. bench/run_crash.sh builds the models and runs it.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_workload.h"
#include "bench/child_server.h"
#include "client/job_client.h"
#include "client/repository_client.h"
#include "core/util/sha256.h"

namespace {

namespace fs = std::filesystem;
namespace v1 = pruneserve::v1;
using pruneserve::bench::ChildServer;
using pruneserve::bench::PruningJob;
using pruneserve::bench::ReadFile;
using pruneserve::bench::TorchScriptHeader;
using pruneserve::client::JobClient;
using pruneserve::client::RepositoryClient;

struct CrashConfig {
  // The pruneserve binary and the data directory it restarts on.
  std::string server;
  std::string data_dir;
  // SIGKILLs in all.
  int kills = 30;
  uint64_t seed = 1;
  // Passed to the server; also how many kills the first job takes.
  int job_max_attempts = 3;
  // Uploaded files, the jobs' model and data.
  pruneserve::bench::WorkloadOptions workload;
  // Longest wait for a job to reach a target phase, or to end at the finish.
  int phase_timeout_seconds = 90;
};

constexpr char kUploaded[] = "crash_upload";
constexpr char kJobModel[] = "crash_job";
const std::vector<std::string> kTargets = {
    "upload", "prune", "finetune", "checkpoint", "evaluate", "register"};

bool Final(const v1::Job& job) {
  return job.state() == v1::JOB_STATE_SUCCEEDED ||
         job.state() == v1::JOB_STATE_FAILED ||
         job.state() == v1::JOB_STATE_CANCELLED;
}

struct Acked {
  int64_t version = 0;
  std::string sha256;
};

// Uploads the files in turn until stopped, against one server run. Each
// upload's start is announced so a kill can be aimed into it. Thread-safe.
class UploadLoop {
 public:
  UploadLoop(const CrashConfig& c, const std::vector<std::string>& digests,
             std::shared_ptr<grpc::Channel> channel, size_t first)
      : c_(c), digests_(digests), repo_(std::move(channel)), next_(first) {
    thread_ = std::thread([this] { Run(); });
  }
  ~UploadLoop() { Join(); }

  // Blocks until an upload starts after this call (or 30 s pass).
  void AwaitNextStart() {
    absl::MutexLock lock(&mu_);
    const int64_t seen = started_;
    auto later = [&] {
      mu_.AssertHeld();
      return started_ > seen;
    };
    mu_.AwaitWithTimeout(absl::Condition(&later), absl::Seconds(30));
  }

  // Stops after the upload in flight (which fails once the server is
  // killed) and returns what the server acknowledged.
  std::vector<Acked> Join() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return acked_;
  }
  size_t next() const { return next_; }

 private:
  void Run() {
    while (!stop_.load()) {
      const auto& files = c_.workload.upload_models;
      const size_t k = next_++ % files.size();
      {
        absl::MutexLock lock(&mu_);
        ++started_;
      }
      auto stored =
          repo_.Upload(TorchScriptHeader(kUploaded, digests_[k]), files[k]);
      if (stored.ok()) {
        acked_.push_back({stored->version(), digests_[k]});
      } else {
        // The server is gone; wait for the kill to be noticed.
        absl::SleepFor(absl::Milliseconds(50));
      }
    }
  }

  const CrashConfig& c_;
  const std::vector<std::string>& digests_;
  RepositoryClient repo_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> next_;
  std::vector<Acked> acked_;  // written by the thread, read after join
  absl::Mutex mu_;
  int64_t started_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

// The job the next phase kill should hit: the newest one that is not final
// and may take another kill (the server's count of runs it died in, which
// kills aimed at uploads add to as well), or a new submission appended to
// `ids`. NOT OK when the server refused.
absl::StatusOr<std::string> JobToHit(const CrashConfig& c, JobClient& jobs,
                                     std::vector<std::string>& ids) {
  for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
    auto job = jobs.Get(*it);
    if (!job.ok()) return job.status();
    if (Final(*job)) continue;
    const int cap =
        *it == ids.front() ? c.job_max_attempts : c.job_max_attempts - 1;
    if (job->crashed_attempts() < cap) return *it;
  }
  auto job = jobs.Submit(PruningJob(c.workload, kJobModel, 1));
  if (!job.ok()) return job.status();
  ids.push_back(job->id());
  return job->id();
}

// Follows `id` until `target` is reached and returns true, or returns false
// when the job ends first or the timeout passes.
bool AwaitTarget(JobClient& jobs, const std::string& id,
                 const std::string& target, int timeout_seconds) {
  bool hit = false;
  int64_t epoch = -1;
  const absl::Time deadline = absl::Now() + absl::Seconds(timeout_seconds);
  auto last = jobs.Watch(id, [&](const v1::Job& job) {
    if (absl::Now() > deadline) return false;
    if (job.state() != v1::JOB_STATE_RUNNING) return !Final(job);
    const v1::JobProgress& p = job.progress();
    if (target == "checkpoint") {
      // The first event of a later epoch: the previous epoch's checkpoint
      // was just written.
      if (p.phase() == "finetune") {
        hit = epoch >= 0 && p.epoch() > epoch;
        epoch = p.epoch();
      }
    } else if (target == "finetune") {
      hit = p.phase() == "finetune" && p.step() >= 2;
    } else {
      hit = p.phase() == target;
    }
    return !hit;
  });
  return hit && last.ok();
}

// How long after the target is reached the kill lands, at most.
absl::Duration Jitter(const std::string& target) {
  if (target == "register") return absl::Milliseconds(100);
  if (target == "checkpoint") return absl::Milliseconds(30);
  if (target == "upload") return absl::Milliseconds(300);
  return absl::Milliseconds(200);
}

struct Outcome {
  int kills = 0;
  std::map<std::string, int> kills_by_target;
  int missed = 0;  // target never reached; killed anyway
  int64_t acked = 0;
  int64_t intact = 0;
  int finished = 0;  // SUCCEEDED without a kill
  int resumed = 0;   // SUCCEEDED after at least one kill
  int failed_max_attempts = 0;
  // Register kills that landed after the result version was stored and
  // before the job was final: the resume must not store it again.
  int register_after_store = 0;
  // FAILED jobs whose result version had been stored before the last kill.
  int failed_with_result = 0;
  int duplicates = 0;
  int orphan_tmp = 0;
  int orphan_blobs = 0;
  int leftover_workdirs = 0;
  std::vector<std::string> problems;
};

// True when `id` has a stored result version but is not final yet (checked
// right after a restart, before the resumed job can get far).
bool StoredBeforeEnd(const std::string& address, const std::string& id) {
  auto channel = pruneserve::client::MakeChannel(address);
  auto job = JobClient(channel).Get(id);
  auto versions = RepositoryClient(channel).List(kJobModel);
  if (!job.ok() || Final(*job) || !versions.ok()) return false;
  return std::any_of(
      versions->begin(), versions->end(),
      [&](const v1::ModelVersion& v) { return v.lineage().job_id() == id; });
}

// Waits until every job is final; returns them by id.
std::map<std::string, v1::Job> AwaitJobs(const CrashConfig& c, JobClient& jobs,
                                         const std::vector<std::string>& ids,
                                         Outcome& out) {
  std::map<std::string, v1::Job> done;
  for (const auto& id : ids) {
    const absl::Time deadline =
        absl::Now() + absl::Seconds(c.phase_timeout_seconds);
    absl::StatusOr<v1::Job> job = jobs.Get(id);
    while (job.ok() && !Final(*job) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(250));
      job = jobs.Get(id);
    }
    if (!job.ok() || !Final(*job)) {
      out.problems.push_back(absl::StrCat("job ", id, " did not end: ",
                                          job.ok()
                                              ? v1::JobState_Name(job->state())
                                              : job.status().ToString()));
      continue;
    }
    done[id] = *job;
  }
  return done;
}

void CheckJobs(const CrashConfig& c, RepositoryClient& repo,
               const std::map<std::string, v1::Job>& jobs, Outcome& out) {
  auto versions = repo.List(kJobModel);
  if (!versions.ok()) {
    out.problems.push_back("listing " + std::string(kJobModel) + ": " +
                           versions.status().ToString());
    return;
  }
  std::map<std::string, std::vector<int64_t>> results;
  for (const auto& v : *versions) {
    if (!v.lineage().job_id().empty()) {
      results[v.lineage().job_id()].push_back(v.version());
    }
  }
  for (const auto& [id, found] : results) {
    if (found.size() > 1) {
      ++out.duplicates;
      out.problems.push_back(absl::StrCat("job ", id, " registered versions ",
                                          absl::StrJoin(found, ", ")));
    }
  }
  for (const auto& [id, job] : jobs) {
    const int kills = job.crashed_attempts();
    const auto& found = results[id];
    if (job.state() == v1::JOB_STATE_SUCCEEDED) {
      (kills > 0 ? out.resumed : out.finished)++;
      if (found.empty() || found.front() != job.result_model_version()) {
        out.problems.push_back(absl::StrCat(
            "job ", id, " reports version ", job.result_model_version(),
            " but the repository holds [", absl::StrJoin(found, ", "), "]"));
      }
    } else if (job.state() == v1::JOB_STATE_FAILED &&
               absl::StrContains(job.error_message(), "job_max_attempts") &&
               kills >= c.job_max_attempts) {
      ++out.failed_max_attempts;
      if (!found.empty()) ++out.failed_with_result;
    } else {
      out.problems.push_back(
          absl::StrCat("job ", id, " ended ", v1::JobState_Name(job.state()),
                       " after ", kills, " kills: ", job.error_message()));
    }
  }
}

// Counts acknowledged uploads that are listed and download intact.
void CheckUploads(RepositoryClient& repo, const std::vector<Acked>& acked,
                  const std::string& scratch, Outcome& out) {
  out.acked = acked.size();
  auto listed = repo.List(kUploaded);
  std::set<int64_t> versions;
  if (listed.ok()) {
    for (const auto& v : *listed) versions.insert(v.version());
  }
  for (const Acked& a : acked) {
    auto got = versions.count(a.version)
                   ? repo.Download(kUploaded, a.version, scratch)
                   : absl::StatusOr<v1::ModelVersion>(
                         absl::NotFoundError("not listed"));
    if (got.ok() && pruneserve::Sha256Hex(ReadFile(scratch)) == a.sha256) {
      ++out.intact;
    } else {
      out.problems.push_back(
          absl::StrCat("acknowledged upload ", kUploaded, ":", a.version, " ",
                       got.ok() ? "downloads with another sha256"
                                : got.status().ToString()));
    }
  }
  fs::remove(scratch);
}

// Files the data directory should not hold once the server started cleanly
// with every job final.
void CheckLeftovers(const CrashConfig& c, RepositoryClient& repo,
                    Outcome& out) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(c.data_dir + "/tmp", ec)) {
    ++out.orphan_tmp;
    out.problems.push_back("left in tmp/: " + e.path().filename().string());
  }
  std::set<std::string> referenced;
  auto all = repo.List("");
  if (all.ok()) {
    for (const auto& v : *all) referenced.insert(v.sha256());
  }
  for (const auto& e :
       fs::recursive_directory_iterator(c.data_dir + "/blobs", ec)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    if (all.ok() && !referenced.count(name)) {
      ++out.orphan_blobs;
      out.problems.push_back("unreferenced blob " + name);
    }
  }
  for (const auto& e : fs::directory_iterator(c.data_dir + "/jobs", ec)) {
    ++out.leftover_workdirs;
    out.problems.push_back("work directory left: jobs/" +
                           e.path().filename().string());
  }
}

}  // namespace

int main(int argc, char** argv) {
  CrashConfig c;
  CLI::App app{"Crash benchmark: SIGKILL pruneserve and check its data."};
  app.add_option("--server", c.server, "pruneserve binary")->required();
  app.add_option("--data_dir", c.data_dir, "Data directory (created)")
      ->required();
  app.add_option("--kills", c.kills, "SIGKILLs in all")->capture_default_str();
  app.add_option("--seed", c.seed, "Seed of targets and moments")
      ->capture_default_str();
  app.add_option("--job_max_attempts", c.job_max_attempts,
                 "Server flag; kills the first job takes")
      ->capture_default_str();
  pruneserve::bench::AddWorkloadFlags(app, c.workload);
  app.add_option("--phase_timeout_seconds", c.phase_timeout_seconds,
                 "Longest wait for a phase or a job's end")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  const std::vector<std::string> flags = {
      "--listen=127.0.0.1:0", "--metrics_listen=", "--data_dir=" + c.data_dir,
      absl::StrCat("--job_max_attempts=", c.job_max_attempts)};
  const std::string log = c.data_dir + ".server.log";
  auto start = [&]() -> std::unique_ptr<ChildServer> {
    auto server = ChildServer::Start(c.server, flags, log);
    if (!server.ok()) {
      std::fprintf(stderr, "crash: %s\n", server.status().ToString().c_str());
      return nullptr;
    }
    return *std::move(server);
  };
  std::vector<std::string> digests;
  for (const auto& path : c.workload.upload_models) {
    digests.push_back(pruneserve::Sha256Hex(ReadFile(path)));
  }

  auto server = start();
  if (!server) return 1;
  {
    RepositoryClient repo(pruneserve::client::MakeChannel(server->address()));
    auto stored =
        repo.Upload(TorchScriptHeader(kJobModel), c.workload.job_model);
    if (!stored.ok()) {
      std::fprintf(stderr, "crash: uploading the job model: %s\n",
                   stored.status().ToString().c_str());
      return 1;
    }
  }

  std::mt19937_64 rng(c.seed);
  std::vector<std::string> order;
  while (static_cast<int>(order.size()) < c.kills) {
    std::vector<std::string> round = kTargets;
    std::shuffle(round.begin(), round.end(), rng);
    order.insert(order.end(), round.begin(), round.end());
  }
  order.resize(c.kills);

  Outcome out;
  std::vector<std::string> job_ids;
  std::vector<Acked> acked;
  size_t next_upload = 0;
  std::printf("== %d kills on %s\n", c.kills, c.data_dir.c_str());
  for (int k = 0; k < c.kills; ++k) {
    const std::string& target = order[k];
    auto channel = pruneserve::client::MakeChannel(server->address());
    JobClient jobs(channel);
    UploadLoop uploads(c, digests, channel, next_upload);
    bool reached = true;
    std::string job_id;
    if (target == "upload") {
      uploads.AwaitNextStart();
    } else {
      auto id = JobToHit(c, jobs, job_ids);
      if (!id.ok()) {
        out.problems.push_back(absl::StrCat("kill ", k + 1, " (", target,
                                            "): ", id.status().ToString()));
        reached = false;
      } else {
        job_id = *id;
        // A server that hangs sends no more events: the watchdog's kill
        // ends the stream (the job then counts as not having reached its
        // target, and a hang that survives restarts fails the final wait).
        absl::Notification reached_or_ended;
        const pid_t pid = server->pid();
        std::thread watchdog([&] {
          if (!reached_or_ended.WaitForNotificationWithTimeout(
                  absl::Seconds(c.phase_timeout_seconds))) {
            ::kill(pid, SIGKILL);
          }
        });
        reached = AwaitTarget(jobs, job_id, target, c.phase_timeout_seconds);
        reached_or_ended.Notify();
        watchdog.join();
      }
    }
    std::uniform_int_distribution<int64_t> jitter(
        0, absl::ToInt64Microseconds(Jitter(target)));
    absl::SleepFor(absl::Microseconds(jitter(rng)));
    server->Stop(SIGKILL);
    for (const Acked& a : uploads.Join()) acked.push_back(a);
    next_upload = uploads.next();
    ++out.kills;
    ++out.kills_by_target[target];
    if (!reached) ++out.missed;
    std::printf("kill %2d: %-10s %s%s\n", k + 1, target.c_str(),
                job_id.empty() ? "" : job_id.c_str(),
                reached ? "" : " (target not reached)");
    std::fflush(stdout);
    server = start();
    if (!server) {
      std::printf("FAIL: the server does not start after kill %d\n", k + 1);
      return 1;
    }
    if (target == "register" && reached &&
        StoredBeforeEnd(server->address(), job_id)) {
      ++out.register_after_store;
    }
  }

  std::printf("== after the last restart: waiting for %zu jobs\n",
              job_ids.size());
  std::fflush(stdout);
  {
    auto channel = pruneserve::client::MakeChannel(server->address());
    JobClient jobs(channel);
    RepositoryClient repo(channel);
    const auto final_jobs = AwaitJobs(c, jobs, job_ids, out);
    CheckJobs(c, repo, final_jobs, out);
    CheckUploads(repo, acked, c.data_dir + ".download", out);
  }
  // A second, clean start: graceful stop, start, and look at the files.
  server->Stop(SIGTERM);
  server = start();
  if (!server) return 1;
  {
    RepositoryClient repo(pruneserve::client::MakeChannel(server->address()));
    CheckLeftovers(c, repo, out);
  }
  const bool alive = ::kill(server->pid(), 0) == 0;

  std::vector<std::string> by_target;
  for (const auto& t : kTargets) {
    by_target.push_back(absl::StrCat(t, " ", out.kills_by_target[t]));
  }
  std::printf(
      "\n| crash figure | value |\n|---|---|\n"
      "| SIGKILLs (%s) | %d |\n| kills whose target was not reached | %d |\n"
      "| acknowledged uploads / listed and intact | %lld / %lld |\n"
      "| jobs submitted | %zu |\n"
      "| jobs finished without a kill / resumed and finished once | %d / %d |\n"
      "| jobs FAILED after --job_max_attempts=%d (with a stored result) | "
      "%d (%d) |\n"
      "| register kills after the result was stored, before the job ended | "
      "%d of %d |\n"
      "| duplicate result versions | %d |\n"
      "| orphans after a second start: tmp/ files / unreferenced blobs / "
      "job work dirs | %d / %d / %d |\n",
      absl::StrJoin(by_target, ", ").c_str(), out.kills, out.missed,
      static_cast<long long>(out.acked), static_cast<long long>(out.intact),
      job_ids.size(), out.finished, out.resumed, c.job_max_attempts,
      out.failed_max_attempts, out.failed_with_result, out.register_after_store,
      out.kills_by_target["register"], out.duplicates, out.orphan_tmp,
      out.orphan_blobs, out.leftover_workdirs);
  for (const auto& p : out.problems) std::printf("problem: %s\n", p.c_str());
  const bool ok = out.problems.empty() && alive;
  std::printf(
      "summary: %d kills, %lld/%lld acknowledged uploads intact, jobs %d "
      "finished + %d resumed + %d failed at max attempts of %zu, %d "
      "duplicates, %d orphans: %s\n",
      out.kills, static_cast<long long>(out.intact),
      static_cast<long long>(out.acked), out.finished, out.resumed,
      out.failed_max_attempts, job_ids.size(), out.duplicates,
      out.orphan_tmp + out.orphan_blobs + out.leftover_workdirs,
      ok ? "PASS" : "FAIL");
  server->Stop(SIGTERM);
  return ok ? 0 : 1;
}
