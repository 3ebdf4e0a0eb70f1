#include "core/jobs/job_manager.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "absl/synchronization/mutex.h"
#include "core/util/limit_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::jobs {
namespace {

// An executor the test drives by hand: a job runs until the test releases
// it (or its token fires, checked at every "step"), reporting progress and
// writing a marker file into its work directory. Specs with description
// "fail" end with INTERNAL.
class FakeExecutor : public JobExecutor {
 public:
  absl::StatusOr<JobOutcome> Execute(const JobContext& c) override {
    const std::string id = c.job->id();
    std::ofstream(c.work_dir + "/marker") << id;
    v1::JobProgress p;
    p.set_phase("finetune");
    p.set_epoch(c.job->attempts() > 1 ? 2 : 0);
    p.set_fraction_done(0.5);
    p.set_images_per_second(123.0);
    p.set_last_top1_accuracy(0.8);
    c.progress(p);
    if (c.job->spec().description() == "chatty") {
      // Every training step reports, as fine-tuning does; then a new epoch.
      for (int step = 1; step <= 1000; ++step) {
        p.set_step(step);
        c.progress(p);
      }
      p.set_epoch(p.epoch() + 1);
      p.set_step(0);
      c.progress(p);
    }
    absl::MutexLock lock(&mu_);
    started_.push_back(id);
    work_dirs_[id] = c.work_dir;
    auto done = [&] {
      mu_.AssertHeld();
      return released_.count(id) > 0 || c.cancel->IsCancelled();
    };
    while (!done())
      mu_.AwaitWithTimeout(absl::Condition(&done), absl::Milliseconds(5));
    if (c.cancel->IsCancelled()) return absl::CancelledError("cancelled");
    if (c.job->spec().description() == "fail") {
      return absl::InternalError("boom");
    }
    JobOutcome out;
    out.model_name = c.job->spec().model_name();
    out.model_version = 2;
    out.report.set_params_reduction(0.5);
    return out;
  }

  void Release(const std::string& id) {
    absl::MutexLock lock(&mu_);
    released_.insert(id);
  }
  // Blocks until `n` jobs have started.
  void AwaitStarted(size_t n) {
    absl::MutexLock lock(&mu_);
    auto ready = [&] {
      mu_.AssertHeld();
      return started_.size() >= n;
    };
    mu_.Await(absl::Condition(&ready));
  }
  std::vector<std::string> started() {
    absl::MutexLock lock(&mu_);
    return started_;
  }
  std::string work_dir(const std::string& id) {
    absl::MutexLock lock(&mu_);
    return work_dirs_[id];
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> started_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> released_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> work_dirs_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<v1::JobSpec> AcceptAll(const v1::JobSpec& spec) {
  if (spec.model_name() == "missing") {
    return absl::NotFoundError("model missing not found");
  }
  if (spec.model_name() == "oversized") {
    return LimitExceededError(absl::StatusCode::kInvalidArgument,
                              "job_max_input_dim", "input_shape: too large");
  }
  return spec;
}

v1::JobSpec Spec(const std::string& description = "") {
  v1::JobSpec spec;
  spec.set_model_name("m");
  spec.set_description(description);
  return spec;
}

// Waits until the job reaches a final state; returns it.
v1::Job AwaitFinal(JobManager& jobs, const std::string& id) {
  int64_t revision = -1;
  while (true) {
    auto snap = jobs.Watch(id, revision, absl::Seconds(10));
    EXPECT_TRUE(snap.ok()) << snap.status();
    if (!snap.ok() || snap->final) return snap.ok() ? snap->job : v1::Job();
    revision = snap->revision;
  }
}

class JobManagerTest : public ::testing::Test {
 protected:
  std::unique_ptr<JobManager> Make(int workers, int capacity,
                                   int max_attempts = 3) {
    if (store_ == nullptr) store_ = *JobStore::Create({dir_.Join("jobs.db")});
    JobManagerOptions o;
    o.workers = workers;
    o.queue_capacity = capacity;
    o.max_attempts = max_attempts;
    o.work_root = dir_.Join("work");
    o.persist_interval = absl::ZeroDuration();
    o.watch_progress_interval = watch_progress_interval_;
    auto jobs =
        JobManager::Create(o, store_.get(), &executor_, AcceptAll, &metrics_);
    EXPECT_TRUE(jobs.ok()) << jobs.status();
    return *std::move(jobs);
  }

  std::string Exposition() {
    prometheus::TextSerializer text;
    return text.Serialize(registry_.Collect());
  }

  testing::TempDir dir_;
  std::unique_ptr<JobStore> store_;
  FakeExecutor executor_;
  // Applied by the next Make().
  absl::Duration watch_progress_interval_ = absl::Milliseconds(200);
  prometheus::Registry registry_;
  JobMetrics metrics_{registry_};
};

TEST_F(JobManagerTest, RunsJobsFifoAndRecordsOutcome) {
  auto jobs = Make(1, 8);
  ASSERT_TRUE(jobs->Start().ok());
  auto a = jobs->Submit(Spec());
  auto b = jobs->Submit(Spec("fail"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->state(), v1::JOB_STATE_QUEUED);
  executor_.AwaitStarted(1);
  auto running = jobs->Get(a->id());
  ASSERT_TRUE(running.ok());
  EXPECT_EQ(running->state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(running->attempts(), 1);
  EXPECT_EQ(jobs->Get(b->id())->state(), v1::JOB_STATE_QUEUED);
  EXPECT_THAT(Exposition(),
              ::testing::HasSubstr("pruneserve_job_finetune_images_per_second{"
                                   "job_id=\"job-000001\",model=\"m\"} 123"));

  executor_.Release(a->id());
  v1::Job done = AwaitFinal(*jobs, a->id());
  EXPECT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(done.result_model_version(), 2);
  EXPECT_DOUBLE_EQ(done.report().params_reduction(), 0.5);
  EXPECT_GT(done.finished_unix_ms(), 0);
  EXPECT_FALSE(std::filesystem::exists(executor_.work_dir(a->id())));

  executor_.Release(b->id());
  v1::Job failed = AwaitFinal(*jobs, b->id());
  EXPECT_EQ(failed.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(failed.error_code(), static_cast<int>(absl::StatusCode::kInternal));
  EXPECT_EQ(failed.error_message(), "boom");
  EXPECT_THAT(executor_.started(), ::testing::ElementsAre(a->id(), b->id()));

  // The database agrees, and the per-job series are gone.
  EXPECT_EQ(store_->Get(a->id())->state(), v1::JOB_STATE_SUCCEEDED);
  const std::string text = Exposition();
  EXPECT_THAT(text,
              ::testing::HasSubstr("pruneserve_jobs{state=\"succeeded\"} 1"));
  EXPECT_THAT(text,
              ::testing::HasSubstr("pruneserve_jobs{state=\"failed\"} 1"));
  EXPECT_THAT(text, ::testing::HasSubstr(
                        "pruneserve_jobs_finished_total{state=\"failed\"} 1"));
  EXPECT_THAT(text, ::testing::Not(::testing::HasSubstr("job_id=")));
}

TEST_F(JobManagerTest, FullQueueIsResourceExhaustedAndStoresNothing) {
  auto jobs = Make(1, 1);
  ASSERT_TRUE(jobs->Start().ok());
  auto running = jobs->Submit(Spec());
  ASSERT_TRUE(running.ok());
  executor_.AwaitStarted(1);
  ASSERT_TRUE(jobs->Submit(Spec()).ok());  // fills the one queue slot
  auto refused = jobs->Submit(Spec());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("--job_queue_capacity"),
            std::string::npos)
      << refused.status();
  EXPECT_EQ(jobs->List(v1::JOB_STATE_UNSPECIFIED, 100, "")->jobs.size(), 2u);
  // Refusals by a limit, the queue's or the spec resolver's, are counted.
  v1::JobSpec oversized = Spec();
  oversized.set_model_name("oversized");
  EXPECT_EQ(jobs->Submit(oversized).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::string text = Exposition();
  EXPECT_NE(text.find("pruneserve_admission_refusals_total{limit=\"job_queue_"
                      "capacity\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("pruneserve_admission_refusals_total{limit=\"job_max_"
                      "input_dim\"} 1"),
            std::string::npos)
      << text;
  EXPECT_EQ(jobs->Submit([] {
                  v1::JobSpec s = Spec();
                  s.set_model_name("missing");
                  return s;
                }())
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  executor_.Release("job-000001");
  executor_.Release("job-000002");
  AwaitFinal(*jobs, "job-000002");
}

TEST_F(JobManagerTest, CancelQueuedAndRunning) {
  auto jobs = Make(1, 8);
  ASSERT_TRUE(jobs->Start().ok());
  auto a = *jobs->Submit(Spec());
  auto b = *jobs->Submit(Spec());
  executor_.AwaitStarted(1);

  auto queued = jobs->Cancel(b.id());
  ASSERT_TRUE(queued.ok()) << queued.status();
  EXPECT_EQ(queued->state(), v1::JOB_STATE_CANCELLED);

  auto running = jobs->Cancel(a.id());
  ASSERT_TRUE(running.ok());
  v1::Job cancelled = AwaitFinal(*jobs, a.id());
  EXPECT_EQ(cancelled.state(), v1::JOB_STATE_CANCELLED);
  EXPECT_FALSE(std::filesystem::exists(executor_.work_dir(a.id())));
  EXPECT_EQ(jobs->Cancel(a.id()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(jobs->Cancel("job-424242").status().code(),
            absl::StatusCode::kNotFound);
  // Only the first ever ran; the worker is free for the next.
  auto c = *jobs->Submit(Spec());
  executor_.AwaitStarted(2);
  EXPECT_THAT(executor_.started(), ::testing::ElementsAre(a.id(), c.id()));
  executor_.Release(c.id());
  EXPECT_EQ(AwaitFinal(*jobs, c.id()).state(), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(JobManagerTest, StopLeavesRunningJobForTheNextStartToResume) {
  std::string id;
  {
    auto jobs = Make(1, 8);
    ASSERT_TRUE(jobs->Start().ok());
    id = jobs->Submit(Spec())->id();
    ASSERT_TRUE(jobs->Submit(Spec()).ok());
    executor_.AwaitStarted(1);
    jobs->Stop();
    EXPECT_EQ(store_->Get(id)->state(), v1::JOB_STATE_QUEUED);
    // The work directory (checkpoints) is kept for the resumed run.
    EXPECT_TRUE(std::filesystem::exists(executor_.work_dir(id) + "/marker"));
  }
  auto jobs = Make(1, 8);
  ASSERT_TRUE(jobs->Start().ok());
  executor_.AwaitStarted(2);
  EXPECT_EQ(executor_.started()[1], id);  // oldest first
  auto resumed = jobs->Get(id);
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(resumed->attempts(), 2);
  EXPECT_EQ(resumed->resumed_from_epoch(), 2);
  executor_.Release(id);
  executor_.Release("job-000002");
  EXPECT_EQ(AwaitFinal(*jobs, id).state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(AwaitFinal(*jobs, "job-000002").state(), v1::JOB_STATE_SUCCEEDED);
}

// Jobs resumed at start-up used to be queued past queue_capacity. Now the
// excess waits in a backlog (still QUEUED, nothing failed) and enters the
// queue as it drains, ahead of new submissions.
TEST_F(JobManagerTest, ResumedJobsRespectTheQueueCapacity) {
  {
    auto jobs = Make(1, 8);
    ASSERT_TRUE(jobs->Start().ok());
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(jobs->Submit(Spec()).ok());
    executor_.AwaitStarted(1);
    jobs->Stop();
  }
  auto jobs = Make(1, 1);
  ASSERT_TRUE(jobs->Start().ok());
  executor_.AwaitStarted(2);  // job-000001 runs again
  EXPECT_EQ(executor_.started()[1], "job-000001");
  EXPECT_EQ(jobs->queued(), 1);  // job-000002
  EXPECT_EQ(jobs->backlog(), 2);
  for (const char* id : {"job-000002", "job-000003", "job-000004"}) {
    EXPECT_EQ(jobs->Get(id)->state(), v1::JOB_STATE_QUEUED) << id;
  }
  auto refused = jobs->Submit(Spec());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find(
                "1 jobs waiting, capacity 1, and 2 jobs resumed at start-up "
                "behind them); retry later or raise --job_queue_capacity"),
            std::string::npos)
      << refused.status();

  // A backlog job can be cancelled like any queued one.
  ASSERT_TRUE(jobs->Cancel("job-000004").ok());
  EXPECT_EQ(jobs->backlog(), 1);
  EXPECT_EQ(AwaitFinal(*jobs, "job-000004").state(), v1::JOB_STATE_CANCELLED);

  executor_.Release("job-000001");
  executor_.AwaitStarted(3);
  EXPECT_EQ(executor_.started()[2], "job-000002");
  EXPECT_EQ(jobs->queued(), 1);  // job-000003, promoted from the backlog
  EXPECT_EQ(jobs->backlog(), 0);
  EXPECT_EQ(jobs->Submit(Spec()).status().code(),
            absl::StatusCode::kResourceExhausted);
  executor_.Release("job-000002");
  executor_.AwaitStarted(4);
  EXPECT_EQ(executor_.started()[3], "job-000003");
  auto fresh = jobs->Submit(Spec());  // the queue has room again
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  executor_.Release("job-000003");
  executor_.Release(fresh->id());
  EXPECT_EQ(AwaitFinal(*jobs, fresh->id()).state(), v1::JOB_STATE_SUCCEEDED);
  for (const char* id : {"job-000001", "job-000002", "job-000003"}) {
    EXPECT_EQ(AwaitFinal(*jobs, id).state(), v1::JOB_STATE_SUCCEEDED) << id;
  }
}

TEST_F(JobManagerTest, WatchTimesOutWithoutChangeAndFailsForUnknownIds) {
  auto jobs = Make(1, 8);
  ASSERT_TRUE(jobs->Start().ok());
  auto a = *jobs->Submit(Spec());
  executor_.AwaitStarted(1);
  auto first = jobs->Watch(a.id(), -1, absl::Seconds(1));
  ASSERT_TRUE(first.ok());
  auto same = jobs->Watch(a.id(), first->revision, absl::Milliseconds(20));
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->revision, first->revision);
  EXPECT_FALSE(same->final);
  EXPECT_EQ(jobs->Watch("job-999", -1, absl::Milliseconds(1)).status().code(),
            absl::StatusCode::kNotFound);
  executor_.Release(a.id());
  AwaitFinal(*jobs, a.id());
}

// A job that kills the server (crash, OOM) is found RUNNING at the next
// start. It used to be resumed at every start, without limit; now each such
// start counts, and at max_attempts the job is FAILED instead of run.
TEST_F(JobManagerTest, JobThatKeepsKillingTheServerFailsAtMaxAttempts) {
  store_ = *JobStore::Create({dir_.Join("jobs.db")});
  v1::Job crashed;
  *crashed.mutable_spec() = Spec();
  crashed.set_state(v1::JOB_STATE_RUNNING);
  crashed.set_attempts(1);
  const std::string id = store_->Insert(crashed)->id();
  for (int start = 1; start <= 3; ++start) {
    auto jobs = Make(1, 8, /*max_attempts=*/3);
    ASSERT_TRUE(jobs->Start().ok());
    if (start < 3) {
      executor_.AwaitStarted(start);
      EXPECT_EQ(jobs->Get(id)->crashed_attempts(), start);
      jobs->Stop();
      // What the next crash leaves behind: the record still says RUNNING.
      v1::Job record = *store_->Get(id);
      EXPECT_EQ(record.crashed_attempts(), start);  // persisted
      record.set_state(v1::JOB_STATE_RUNNING);
      ASSERT_TRUE(store_->Update(record).ok());
      continue;
    }
    v1::Job failed = *jobs->Get(id);
    EXPECT_EQ(failed.state(), v1::JOB_STATE_FAILED);
    EXPECT_EQ(failed.error_code(),
              static_cast<int>(absl::StatusCode::kAborted));
    EXPECT_NE(failed.error_message().find("3 times"), std::string::npos)
        << failed.error_message();
    EXPECT_NE(failed.error_message().find("--job_max_attempts=3"),
              std::string::npos)
        << failed.error_message();
    EXPECT_EQ(store_->Get(id)->state(), v1::JOB_STATE_FAILED);
    EXPECT_EQ(executor_.started().size(), 2u);  // not run a third time
    EXPECT_THAT(Exposition(),
                ::testing::HasSubstr(
                    "pruneserve_jobs_finished_total{state=\"failed\"} 1"));
  }
}

// Graceful shutdowns are not crashes: they do not use up attempts.
TEST_F(JobManagerTest, GracefulStopsDoNotCountAsCrashedAttempts) {
  std::string id;
  for (int start = 1; start <= 4; ++start) {
    auto jobs = Make(1, 8, /*max_attempts=*/1);
    ASSERT_TRUE(jobs->Start().ok());
    if (start == 1) id = jobs->Submit(Spec())->id();
    executor_.AwaitStarted(start);
    EXPECT_EQ(jobs->Get(id)->crashed_attempts(), 0);
    jobs->Stop();
  }
  EXPECT_EQ(store_->Get(id)->state(), v1::JOB_STATE_QUEUED);
}

// An unreadable job record used to stop Start() (and so the server).
TEST_F(JobManagerTest, UnreadableJobRecordDoesNotStopTheStart) {
  store_ = *JobStore::Create({dir_.Join("jobs.db")});
  v1::Job queued;
  *queued.mutable_spec() = Spec();
  queued.set_state(v1::JOB_STATE_QUEUED);
  const std::string bad = store_->Insert(queued)->id();
  const std::string good = store_->Insert(queued)->id();
  {
    SQLite::Database db(dir_.Join("jobs.db"), SQLite::OPEN_READWRITE);
    db.setBusyTimeout(5000);
    SQLite::Statement q(db, "UPDATE jobs SET job = x'ffffffff' WHERE id = ?");
    q.bind(1, bad);
    ASSERT_EQ(q.exec(), 1);
  }
  auto jobs = Make(1, 8);
  absl::Status started = jobs->Start();
  ASSERT_TRUE(started.ok()) << started;
  executor_.AwaitStarted(1);
  EXPECT_EQ(executor_.started(), std::vector<std::string>{good});
  auto failed = jobs->Get(bad);
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->state(), v1::JOB_STATE_FAILED);
  executor_.Release(good);
  EXPECT_EQ(AwaitFinal(*jobs, good).state(), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(JobManagerTest, FinalStateTheStoreRefusesIsServedAndWrittenLater) {
  JobStoreOptions store_options;
  store_options.path = dir_.Join("jobs.db");
  store_options.busy_timeout = absl::Milliseconds(50);
  store_ = *JobStore::Create(store_options);
  auto jobs = Make(1, 8);
  ASSERT_TRUE(jobs->Start().ok());
  auto a = jobs->Submit(Spec());
  ASSERT_TRUE(a.ok());
  executor_.AwaitStarted(1);
  {
    // Another connection holds the write lock: every write of the store
    // fails while the job ends, as on a full disk.
    SQLite::Database db(dir_.Join("jobs.db"), SQLite::OPEN_READWRITE);
    db.exec("BEGIN EXCLUSIVE");
    executor_.Release(a->id());
    EXPECT_EQ(AwaitFinal(*jobs, a->id()).state(), v1::JOB_STATE_SUCCEEDED);
    EXPECT_EQ(jobs->Get(a->id())->state(), v1::JOB_STATE_SUCCEEDED);
    auto cancel = jobs->Cancel(a->id());
    EXPECT_EQ(cancel.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(cancel.status().message()),
                ::testing::HasSubstr("already ended (succeeded)"));
    db.exec("ROLLBACK");
  }
  // The row still says RUNNING; readers are answered from memory.
  EXPECT_EQ(store_->Get(a->id())->state(), v1::JOB_STATE_RUNNING);
  auto all = jobs->List(v1::JOB_STATE_UNSPECIFIED, 10, "");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->jobs.size(), 1u);
  EXPECT_EQ(all->jobs[0].state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_TRUE(jobs->List(v1::JOB_STATE_RUNNING, 10, "")->jobs.empty());
  // The next write (a submission) records it.
  auto b = jobs->Submit(Spec());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(store_->Get(a->id())->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(store_->Get(a->id())->result_model_version(), 2);
  executor_.Release(b->id());
  EXPECT_EQ(AwaitFinal(*jobs, b->id()).state(), v1::JOB_STATE_SUCCEEDED);
}

// Records what a JobListener receives and lets the test wait for it.
class RecordingListener {
 public:
  JobListener AsListener() {
    return [this](const absl::StatusOr<JobSnapshot>& s) {
      absl::MutexLock lock(&mu_);
      received_.push_back(s);
    };
  }
  // Blocks until `n` calls arrived; returns them all.
  std::vector<absl::StatusOr<JobSnapshot>> AwaitCalls(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&] {
      mu_.AssertHeld();
      return received_.size() >= n;
    };
    mu_.Await(absl::Condition(&enough));
    return received_;
  }
  size_t count() {
    absl::MutexLock lock(&mu_);
    return received_.size();
  }

 private:
  absl::Mutex mu_;
  std::vector<absl::StatusOr<JobSnapshot>> received_ ABSL_GUARDED_BY(mu_);
};

TEST_F(JobManagerTest, SubscribePushesEveryChangeThenTheFinalSnapshot) {
  auto jobs = Make(1, 8);
  ASSERT_TRUE(jobs->Start().ok());
  auto ahead = jobs->Submit(Spec());  // holds the one worker
  executor_.AwaitStarted(1);
  auto job = jobs->Submit(Spec());
  ASSERT_TRUE(job.ok());
  RecordingListener listener;
  auto sub = jobs->Subscribe(job->id(), listener.AsListener());
  ASSERT_TRUE(sub.ok()) << sub.status();
  EXPECT_GT(sub->id, 0);
  EXPECT_FALSE(sub->current.final);
  EXPECT_EQ(sub->current.job.state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(listener.count(), 0u);

  executor_.Release(ahead->id());
  executor_.AwaitStarted(2);
  // Started (phase "start"), then the executor's one progress report.
  auto calls = listener.AwaitCalls(2);
  ASSERT_TRUE(calls[0].ok() && calls[1].ok());
  EXPECT_EQ(calls[0]->job.state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(calls[0]->job.progress().phase(), "start");
  EXPECT_EQ(calls[1]->job.progress().phase(), "finetune");
  EXPECT_GT(calls[0]->revision, sub->current.revision);
  EXPECT_GT(calls[1]->revision, calls[0]->revision);
  EXPECT_FALSE(calls[1]->final);

  executor_.Release(job->id());
  calls = listener.AwaitCalls(3);
  ASSERT_TRUE(calls[2].ok());
  EXPECT_TRUE(calls[2]->final);
  EXPECT_EQ(calls[2]->job.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_GT(calls[2]->revision, calls[1]->revision);
  // The final snapshot ends the subscription: a later job changes nothing.
  auto other = *jobs->Submit(Spec());
  executor_.AwaitStarted(3);
  executor_.Release(other.id());
  AwaitFinal(*jobs, other.id());
  EXPECT_EQ(listener.count(), 3u);

  // An ended job is returned final, with nothing registered.
  RecordingListener late;
  auto ended = jobs->Subscribe(job->id(), late.AsListener());
  ASSERT_TRUE(ended.ok());
  EXPECT_EQ(ended->id, 0);
  EXPECT_TRUE(ended->current.final);
  EXPECT_EQ(ended->current.job.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(jobs->Subscribe("job-424242", late.AsListener()).status().code(),
            absl::StatusCode::kNotFound);
}

// Step-by-step progress of one phase and epoch reaches subscribers at most
// once per watch_progress_interval (here never again within the test);
// the first report of a phase or epoch, and the final snapshot, always do.
TEST_F(JobManagerTest, ProgressWithinAnEpochIsRateLimitedForSubscribers) {
  watch_progress_interval_ = absl::Hours(1);
  auto jobs = Make(1, 8);
  ASSERT_TRUE(jobs->Start().ok());
  auto ahead = jobs->Submit(Spec());  // holds the one worker
  executor_.AwaitStarted(1);
  v1::JobSpec spec = Spec();
  spec.set_description("chatty");
  auto job = jobs->Submit(spec);
  ASSERT_TRUE(job.ok());
  RecordingListener listener;
  ASSERT_TRUE(jobs->Subscribe(job->id(), listener.AsListener()).ok());
  executor_.Release(ahead->id());
  executor_.AwaitStarted(2);
  executor_.Release(job->id());
  EXPECT_EQ(AwaitFinal(*jobs, job->id()).state(), v1::JOB_STATE_SUCCEEDED);
  // start, finetune epoch 0 step 0, finetune epoch 1, final.
  auto calls = listener.AwaitCalls(4);
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[0]->job.progress().phase(), "start");
  EXPECT_EQ(calls[1]->job.progress().step(), 0);
  EXPECT_EQ(calls[2]->job.progress().epoch(),
            calls[1]->job.progress().epoch() + 1);
  EXPECT_TRUE(calls[3]->final);
}

TEST_F(JobManagerTest, UnsubscribeStopsDeliveryAndStopSendsUnavailable) {
  auto jobs = Make(1, 8);
  ASSERT_TRUE(jobs->Start().ok());
  auto ahead = *jobs->Submit(Spec());  // holds the one worker
  executor_.AwaitStarted(1);
  auto first = *jobs->Submit(Spec());
  RecordingListener gone;
  RecordingListener staying;
  auto gone_sub = *jobs->Subscribe(first.id(), gone.AsListener());
  ASSERT_TRUE(jobs->Subscribe(first.id(), staying.AsListener()).ok());
  jobs->Unsubscribe(gone_sub.id);
  jobs->Unsubscribe(gone_sub.id);  // twice is harmless
  jobs->Unsubscribe(987654);       // so is an unknown id

  executor_.Release(ahead.id());
  executor_.AwaitStarted(2);
  staying.AwaitCalls(2);  // start and progress
  EXPECT_EQ(gone.count(), 0u);

  jobs->Stop();
  auto calls = staying.AwaitCalls(3);
  EXPECT_EQ(calls[2].status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(gone.count(), 0u);
  EXPECT_EQ(jobs->Subscribe(first.id(), gone.AsListener()).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(staying.count(), 3u);  // nothing after UNAVAILABLE
}

TEST(JobManagerCreateTest, RejectsBadOptions) {
  FakeExecutor executor;
  testing::TempDir dir;
  auto store = *JobStore::Create({dir.Join("jobs.db")});
  JobManagerOptions o;
  o.work_root = dir.path();
  o.workers = 0;
  EXPECT_EQ(JobManager::Create(o, store.get(), &executor, AcceptAll, nullptr)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  o.workers = 1;
  o.max_attempts = 0;
  EXPECT_EQ(JobManager::Create(o, store.get(), &executor, AcceptAll, nullptr)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  o.max_attempts = 3;
  o.work_root = "";
  EXPECT_EQ(JobManager::Create(o, store.get(), &executor, AcceptAll, nullptr)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pruneserve::jobs
