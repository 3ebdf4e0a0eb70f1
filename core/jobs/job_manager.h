// JobManager schedules pruning jobs: it validates and records submissions,
// keeps a bounded FIFO queue, runs jobs on a fixed pool of worker threads
// through a JobExecutor, publishes progress to watchers (Watch blocks;
// Subscribe pushes every change to a listener, for callers that must not
// hold a thread per watcher) and metrics, and
// writes every state change to the JobStore. After a crash or a restart,
// Start() puts jobs that were queued or running back in the queue; their
// executor resumes from the checkpoints left in the job's work directory.
//
//   JobManagerOptions opts;
//   opts.workers = 1;
//   opts.work_root = data_dir + "/jobs";
//   PS_ASSIGN_OR_RETURN(auto jobs, JobManager::Create(opts, store, executor,
//                                                     resolver, metrics));
//   PS_RETURN_IF_ERROR(jobs->Start());
//   PS_ASSIGN_OR_RETURN(v1::Job job, jobs->Submit(spec));
#ifndef PRUNESERVE_CORE_JOBS_JOB_MANAGER_H_
#define PRUNESERVE_CORE_JOBS_JOB_MANAGER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/jobs/job_executor.h"
#include "core/jobs/job_store.h"
#include "core/metrics/job_metrics.h"
#include "core/spec/job_state.h"

namespace pruneserve::jobs {

struct JobManagerOptions {
  // Jobs running at once, one worker thread each.
  int workers = 1;
  // Jobs waiting for a worker; a submission beyond it is RESOURCE_EXHAUSTED.
  // The bound holds for jobs resumed at Start() too: those beyond it wait in
  // a start-up backlog (QUEUED in the database, oldest first) and enter the
  // queue as slots free, ahead of new submissions. None is failed or lost.
  int queue_capacity = 16;
  // LibTorch intra-op threads of each running job.
  int intra_op_threads = 1;
  // Runs first on every worker thread, before it takes a job. ServerCore
  // gives the worker its LibTorch intra-op threads here, once (the setting
  // is per thread; core/util/intra_op_threads.h). Empty: nothing.
  std::function<void()> worker_thread_setup;
  // Parent of the per-job work directories (<work_root>/<job id>). Required.
  std::string work_root;
  // Progress of a running job is written to the database at most this often
  // (state changes are written at once).
  absl::Duration persist_interval = absl::Seconds(5);
  // Progress inside one phase, round and epoch reaches subscribers
  // (WatchJob streams) at most this often; a new phase, round or epoch, a
  // state change and the final snapshot reach them at once. Fine-tuning
  // reports every training step, which for a small model is thousands a
  // second per watcher otherwise (--watch_progress_interval_ms).
  absl::Duration watch_progress_interval = absl::Milliseconds(200);
  // A job whose runs ended with the process dying under it this many times
  // is FAILED at Start() instead of being resumed once more: a job that
  // crashes the server would otherwise crash it at every start. Graceful
  // shutdowns (Stop()) do not count. Must be >= 1.
  int max_attempts = 3;
};

// Turns a submitted spec into the one that runs (defaults filled, model
// version pinned): NOT_FOUND for an unknown model, INVALID_ARGUMENT naming
// the bad field. Called on the submitting thread.
using JobSpecResolver =
    std::function<absl::StatusOr<v1::JobSpec>(const v1::JobSpec&)>;

// A job at some point of its life, with a revision that grows at every
// change (compare revisions to wait for the next change).
struct JobSnapshot {
  v1::Job job;
  int64_t revision = 0;
  // True when the job is in a final state (no further changes).
  bool final = false;
};

// Receives the changes of one job (JobManager::Subscribe): a snapshot after
// every change, the last one final, or UNAVAILABLE once Stop() has begun
// (then nothing more). Called on the thread that made the change (a worker,
// a submitter, a canceller) with no lock of the manager held. Calls from
// different threads may overlap and arrive out of order, so a listener keeps
// the highest revision it has seen. Must not block: it runs on the job's
// worker.
using JobListener = std::function<void(const absl::StatusOr<JobSnapshot>&)>;

// What Subscribe returns: the job as it is now and, when it can still
// change, the id that ends the subscription.
struct JobSubscription {
  JobSnapshot current;
  // 0 when `current` is final: the listener is not registered.
  int64_t id = 0;
};

// Thread-safe. Owns its worker threads (started by Start(), joined by
// Stop() or the destructor). The store, executor and metrics are not owned
// and must outlive the manager.
class JobManager {
 public:
  // INVALID_ARGUMENT for workers < 1, queue_capacity < 0, intra_op_threads
  // < 1, max_attempts < 1 or an empty work_root. `metrics` may be null.
  static absl::StatusOr<std::unique_ptr<JobManager>> Create(
      JobManagerOptions options, JobStore* store, JobExecutor* executor,
      JobSpecResolver resolver, JobMetrics* metrics);
  ~JobManager();
  JobManager(const JobManager&) = delete;
  JobManager& operator=(const JobManager&) = delete;

  // Re-queues the jobs a previous process left queued or running (oldest
  // first; those beyond queue_capacity go to the start-up backlog, see
  // JobManagerOptions::queue_capacity), then starts the workers. A job left
  // running counts one crashed attempt; at options.max_attempts it is FAILED
  // (ABORTED, with the count and the limit in its message) instead.
  // Unreadable job records are failed by the store and skipped. Call once.
  // Returns the store's error.
  absl::Status Start();

  // Interrupts running jobs without ending them — they stay queued in the
  // database and the next Start() resumes them — and joins the workers.
  // Blocks until running jobs reach their next step. Idempotent.
  void Stop();

  // Resolves and stores the job and queues it. The resolver's errors;
  // RESOURCE_EXHAUSTED when the queue is full; UNAVAILABLE after Stop().
  // Nothing is stored for a refused job. `submitted_by` (the caller's token
  // name, may be empty) is recorded on the job. Blocks on one database write.
  absl::StatusOr<v1::Job> Submit(const v1::JobSpec& spec,
                                 const std::string& submitted_by = "");

  // NOT_FOUND when no job has this id.
  absl::StatusOr<v1::Job> Get(const std::string& id) const;

  // A queued job is cancelled at once; a running one is asked to stop and
  // reaches CANCELLED within one training step (watch it). Returns the job
  // as it is after the request; NOT_FOUND, or FAILED_PRECONDITION when the
  // job already ended.
  absl::StatusOr<v1::Job> Cancel(const std::string& id);

  // Newest first, see JobStore::List.
  absl::StatusOr<JobPage> List(v1::JobState state, int page_size,
                               const std::string& page_token) const;

  // Returns the job once its revision is above `after_revision` (at once
  // when it already is, or when the job is final), or its current snapshot
  // when `timeout` passes first. NOT_FOUND for an unknown id, UNAVAILABLE
  // once Stop() has begun. Blocks up to `timeout`.
  absl::StatusOr<JobSnapshot> Watch(const std::string& id,
                                    int64_t after_revision,
                                    absl::Duration timeout) const;

  // Registers `listener` for every later change of job `id` and returns
  // the job as it is now, atomically: no change falls between the two. A job
  // that already ended is returned final and nothing is registered.
  // NOT_FOUND for an unknown id, UNAVAILABLE once Stop() has begun. The
  // listener stays registered until the job ends (after its final snapshot),
  // Stop() (after UNAVAILABLE) or Unsubscribe(). Does not block beyond one
  // database read for ended jobs.
  absl::StatusOr<JobSubscription> Subscribe(const std::string& id,
                                            JobListener listener);

  // Ends a subscription (unknown or ended ids are ignored). A call to the
  // listener already under way on another thread may still finish after
  // this returns, so the listener must own what it touches. Not blocking.
  void Unsubscribe(int64_t subscription_id);

  const JobManagerOptions& options() const { return options_; }

  // Jobs in the queue (never more than queue_capacity) and, behind them,
  // jobs resumed at Start() that did not fit. Not blocking.
  int64_t queued() const;
  int64_t backlog() const;

 private:
  // A queued or running job held in memory.
  struct ActiveJob {
    v1::Job job;
    int64_t revision = 0;
    util::CancellationToken token;
    bool cancel_requested = false;
    bool running = false;
    // A re-run has not yet reported where fine-tuning resumed.
    bool resume_unreported = false;
    absl::Time last_persist = absl::InfinitePast();
    // The last progress sent to subscribers: when, and its phase, round and
    // epoch (see watch_progress_interval).
    absl::Time last_delivery = absl::InfinitePast();
    std::string delivered_phase;
    int64_t delivered_round = -1;
    int64_t delivered_epoch = -1;
  };

  JobManager(JobManagerOptions options, JobStore* store, JobExecutor* executor,
             JobSpecResolver resolver, JobMetrics* metrics);

  void WorkerLoop();
  // Runs one job taken from the queue, start to end.
  void RunJob(const std::shared_ptr<ActiveJob>& active);
  void OnProgress(ActiveJob* active, const v1::JobProgress& progress);
  // Writes `job` to the store (after retrying unsaved final states);
  // returns and logs the store's error.
  absl::Status Persist(const v1::Job& job);
  // Writes the final states the store refused earlier; keeps those it
  // refuses again.
  void RetryUnsaved();
  // Moves a job to a final state (or back to queued when interrupted by
  // Stop()), writes it and wakes watchers.
  void Finish(const std::shared_ptr<ActiveJob>& active,
              const absl::StatusOr<JobOutcome>& outcome);
  // A change to deliver once the lock is released.
  struct Delivery {
    std::vector<std::shared_ptr<const JobListener>> listeners;
    absl::StatusOr<JobSnapshot> snapshot = absl::UnknownError("");
  };
  // The listeners of `active` with its current snapshot.
  Delivery CollectListenersLocked(const ActiveJob& active, bool final) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void Deliver(const Delivery& delivery);
  void RefreshStateMetrics();
  // Moves backlog jobs into the queue while it has room.
  void PromoteBacklogLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string WorkDir(const std::string& id) const;

  const JobManagerOptions options_;
  JobStore* const store_;
  JobExecutor* const executor_;
  const JobSpecResolver resolver_;
  JobMetrics* const metrics_;

  mutable absl::Mutex mu_;
  // Wakes watchers at every change.
  mutable absl::CondVar changed_;
  // Wakes workers when the queue grows or the manager stops.
  absl::CondVar work_ready_;
  std::map<std::string, std::shared_ptr<ActiveJob>> active_
      ABSL_GUARDED_BY(mu_);
  // Final states of ended jobs that the store could not record (a full
  // disk): served from here, so no reader sees the stale row, and written
  // again at every later write until the store takes them.
  std::map<std::string, v1::Job> unsaved_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  // Resumed jobs beyond queue_capacity, oldest first; run before new
  // submissions (Submit refuses while the queue is full, which it is while
  // the backlog is not empty).
  std::deque<std::string> backlog_ ABSL_GUARDED_BY(mu_);
  int64_t next_revision_ ABSL_GUARDED_BY(mu_) = 1;
  // Subscribers by job id, then by subscription id.
  std::map<std::string, std::map<int64_t, std::shared_ptr<const JobListener>>>
      listeners_ ABSL_GUARDED_BY(mu_);
  // Job id of every subscription, for Unsubscribe.
  std::map<int64_t, std::string> subscriptions_ ABSL_GUARDED_BY(mu_);
  int64_t next_subscription_ ABSL_GUARDED_BY(mu_) = 1;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace pruneserve::jobs

#endif  // PRUNESERVE_CORE_JOBS_JOB_MANAGER_H_
