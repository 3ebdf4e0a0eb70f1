#include "core/jobs/job_manager.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/jobs/job_progress.h"
#include "core/util/limit_status.h"

namespace pruneserve::jobs {
namespace {

int64_t NowUnixMs() { return absl::ToUnixMillis(absl::Now()); }

}  // namespace

absl::StatusOr<std::unique_ptr<JobManager>> JobManager::Create(
    JobManagerOptions options, JobStore* store, JobExecutor* executor,
    JobSpecResolver resolver, JobMetrics* metrics) {
  if (options.workers < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("job workers must be >= 1, got ", options.workers));
  }
  if (options.queue_capacity < 0) {
    return absl::InvalidArgumentError("job queue capacity must be >= 0");
  }
  if (options.intra_op_threads < 1) {
    return absl::InvalidArgumentError("job intra-op threads must be >= 1");
  }
  if (options.max_attempts < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job max attempts must be >= 1, got ", options.max_attempts));
  }
  if (options.work_root.empty()) {
    return absl::InvalidArgumentError("job work root is required");
  }
  if (store == nullptr || executor == nullptr || !resolver) {
    return absl::InvalidArgumentError(
        "job manager needs a store, an executor and a resolver");
  }
  return std::unique_ptr<JobManager>(new JobManager(
      std::move(options), store, executor, std::move(resolver), metrics));
}

JobManager::JobManager(JobManagerOptions options, JobStore* store,
                       JobExecutor* executor, JobSpecResolver resolver,
                       JobMetrics* metrics)
    : options_(std::move(options)),
      store_(store),
      executor_(executor),
      resolver_(std::move(resolver)),
      metrics_(metrics) {
  if (metrics_ != nullptr) metrics_->SetQueueCapacity(options_.queue_capacity);
}

JobManager::~JobManager() { Stop(); }

absl::Status JobManager::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_) return absl::FailedPreconditionError("already started");
    started_ = true;
  }
  auto unfinished = store_->ListUnfinished();
  if (!unfinished.ok()) return unfinished.status();
  std::vector<v1::Job> given_up;
  size_t resumed = 0;
  {
    absl::MutexLock lock(&mu_);
    for (v1::Job& job : *unfinished) {
      // Stop() writes an interrupted job back as QUEUED, so RUNNING here
      // means the previous process died while the job ran.
      if (job.state() == v1::JOB_STATE_RUNNING) {
        job.set_crashed_attempts(job.crashed_attempts() + 1);
      }
      if (job.crashed_attempts() >= options_.max_attempts) {
        job.set_state(v1::JOB_STATE_FAILED);
        job.set_error_code(static_cast<int>(absl::StatusCode::kAborted));
        job.set_error_message(absl::StrCat(
            "the server stopped while this job ran ", job.crashed_attempts(),
            " times (a crash, a kill or running out of memory); not resumed "
            "again (--job_max_attempts=",
            options_.max_attempts, ")"));
        job.set_finished_unix_ms(NowUnixMs());
        given_up.push_back(job);
        continue;
      }
      auto active = std::make_shared<ActiveJob>();
      job.set_state(v1::JOB_STATE_QUEUED);
      SetJobPhase(Phase::kQueued, *job.mutable_progress());
      active->job = job;
      active->revision = next_revision_++;
      if (static_cast<int>(queue_.size()) < options_.queue_capacity) {
        queue_.push_back(active->job.id());
      } else {
        backlog_.push_back(active->job.id());
      }
      active_[active->job.id()] = active;
      ++resumed;
    }
  }
  for (const v1::Job& job : *unfinished) Persist(job);
  for (const v1::Job& job : given_up) {
    std::fprintf(stderr, "pruneserve: job %s FAILED: %s\n", job.id().c_str(),
                 job.error_message().c_str());
    std::error_code ec;
    std::filesystem::remove_all(WorkDir(job.id()), ec);
    if (metrics_ != nullptr) metrics_->RecordFinished(job.state());
  }
  if (resumed > 0) {
    absl::MutexLock lock(&mu_);
    std::fprintf(stderr,
                 "pruneserve: resuming %zu unfinished job(s); %zu wait "
                 "beyond --job_queue_capacity=%d and enter the queue as it "
                 "drains\n",
                 resumed, backlog_.size(), options_.queue_capacity);
  }
  RefreshStateMetrics();
  for (int i = 0; i < options_.workers; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
  return absl::OkStatus();
}

void JobManager::Stop() {
  Delivery stopped;
  stopped.snapshot = absl::UnavailableError("the server is shutting down");
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    for (auto& [id, active] : active_) {
      if (active->running) active->token.Cancel();
    }
    for (auto& [id, by_subscription] : listeners_) {
      for (auto& [sub, listener] : by_subscription) {
        stopped.listeners.push_back(std::move(listener));
      }
    }
    listeners_.clear();
    subscriptions_.clear();
    work_ready_.SignalAll();
    changed_.SignalAll();
  }
  Deliver(stopped);
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  RetryUnsaved();
}

absl::StatusOr<v1::Job> JobManager::Submit(const v1::JobSpec& spec,
                                           const std::string& submitted_by) {
  auto resolved = resolver_(spec);
  if (!resolved.ok()) {
    if (metrics_ != nullptr) metrics_->RecordRefusal(resolved.status());
    return resolved.status();
  }
  v1::Job job;
  job.set_submitted_by(submitted_by);
  *job.mutable_spec() = *std::move(resolved);
  job.set_state(v1::JOB_STATE_QUEUED);
  job.set_created_unix_ms(NowUnixMs());
  SetJobPhase(Phase::kQueued, *job.mutable_progress());
  job.mutable_progress()->set_num_rounds(job.spec().rounds());
  job.mutable_progress()->set_last_top1_accuracy(-1.0);
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      return absl::UnavailableError("the server is shutting down");
    }
    if (static_cast<int>(queue_.size()) >= options_.queue_capacity) {
      absl::Status full = LimitExceededError(
          absl::StatusCode::kResourceExhausted, "job_queue_capacity",
          absl::StrCat("the job queue is full (", queue_.size(),
                       " jobs waiting, capacity ", options_.queue_capacity,
                       backlog_.empty()
                           ? ""
                           : absl::StrCat(", and ", backlog_.size(),
                                          " jobs resumed at start-up behind "
                                          "them"),
                       "); retry later or raise --job_queue_capacity"));
      if (metrics_ != nullptr) metrics_->RecordRefusal(full);
      return full;
    }
    // The insert happens under the lock so that the capacity check and the
    // enqueue are one step.
    auto stored = store_->Insert(std::move(job));
    if (!stored.ok()) return stored.status();
    job = *std::move(stored);
    auto active = std::make_shared<ActiveJob>();
    active->job = job;
    active->revision = next_revision_++;
    active_[job.id()] = active;
    queue_.push_back(job.id());
    work_ready_.Signal();
    changed_.SignalAll();
  }
  // The store writes again: record what it refused before.
  RetryUnsaved();
  RefreshStateMetrics();
  return job;
}

absl::StatusOr<v1::Job> JobManager::Get(const std::string& id) const {
  {
    absl::MutexLock lock(&mu_);
    auto it = active_.find(id);
    if (it != active_.end()) return it->second->job;
    auto unsaved = unsaved_.find(id);
    if (unsaved != unsaved_.end()) return unsaved->second;
  }
  return store_->Get(id);
}

absl::StatusOr<v1::Job> JobManager::Cancel(const std::string& id) {
  std::shared_ptr<ActiveJob> cancelled_queued;
  {
    absl::MutexLock lock(&mu_);
    auto it = active_.find(id);
    if (it != active_.end()) {
      ActiveJob& active = *it->second;
      active.cancel_requested = true;
      if (active.running) {
        active.token.Cancel();
        return active.job;
      }
      // Queued: take it out of the queue (or the backlog) and end it here.
      for (std::deque<std::string>* waiting : {&queue_, &backlog_}) {
        auto q = std::find(waiting->begin(), waiting->end(), id);
        if (q != waiting->end()) waiting->erase(q);
      }
      PromoteBacklogLocked();
      cancelled_queued = it->second;
    }
  }
  if (cancelled_queued != nullptr) {
    Finish(cancelled_queued, absl::CancelledError("cancelled while queued"));
    return Get(id);
  }
  auto job = Get(id);
  if (!job.ok()) return job.status();
  return absl::FailedPreconditionError(absl::StrCat(
      "job ", id, " already ended (", spec::JobStateName(job->state()), ")"));
}

absl::StatusOr<JobPage> JobManager::List(v1::JobState state, int page_size,
                                         const std::string& page_token) const {
  auto page = store_->List(state, page_size, page_token);
  if (!page.ok()) return page.status();
  // Running jobs' progress in memory is fresher than the last write.
  absl::MutexLock lock(&mu_);
  for (v1::Job& job : page->jobs) {
    auto it = active_.find(job.id());
    if (it != active_.end()) job = it->second->job;
    auto unsaved = unsaved_.find(job.id());
    if (unsaved != unsaved_.end()) job = unsaved->second;
  }
  if (state != v1::JOB_STATE_UNSPECIFIED) {
    // A row the store still has in its old state.
    page->jobs.erase(std::remove_if(page->jobs.begin(), page->jobs.end(),
                                    [state](const v1::Job& job) {
                                      return job.state() != state;
                                    }),
                     page->jobs.end());
  }
  return page;
}

absl::StatusOr<JobSnapshot> JobManager::Watch(const std::string& id,
                                              int64_t after_revision,
                                              absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  {
    absl::MutexLock lock(&mu_);
    while (true) {
      auto it = active_.find(id);
      if (it == active_.end()) break;
      if (stopping_) {
        return absl::UnavailableError("the server is shutting down");
      }
      if (it->second->revision > after_revision ||
          changed_.WaitWithDeadline(&mu_, deadline)) {
        it = active_.find(id);
        if (it == active_.end()) break;
        return JobSnapshot{it->second->job, it->second->revision, false};
      }
    }
  }
  // Not active: finished (or never existed).
  auto job = Get(id);
  if (!job.ok()) return job.status();
  const bool final = spec::IsFinalJobState(job->state());
  return JobSnapshot{*std::move(job), final ? INT64_MAX : after_revision,
                     final};
}

void JobManager::WorkerLoop() {
  if (options_.worker_thread_setup) options_.worker_thread_setup();
  while (true) {
    std::shared_ptr<ActiveJob> active;
    Delivery started;
    {
      absl::MutexLock lock(&mu_);
      while (!stopping_ && queue_.empty() && backlog_.empty()) {
        work_ready_.Wait(&mu_);
      }
      if (stopping_) return;
      // The backlog is only ever taken from directly with a capacity of 0.
      std::deque<std::string>& from = queue_.empty() ? backlog_ : queue_;
      const std::string id = from.front();
      from.pop_front();
      PromoteBacklogLocked();
      active = active_.at(id);
      active->running = true;
      active->resume_unreported = active->job.attempts() > 0;
      v1::Job& job = active->job;
      job.set_state(v1::JOB_STATE_RUNNING);
      job.set_attempts(job.attempts() + 1);
      job.set_started_unix_ms(NowUnixMs());
      job.set_resumed_from_epoch(0);
      SetJobPhase(Phase::kStart, *job.mutable_progress());
      active->revision = next_revision_++;
      changed_.SignalAll();
      started = CollectListenersLocked(*active, false);
    }
    Deliver(started);
    Persist(active->job);
    RefreshStateMetrics();
    RunJob(active);
  }
}

void JobManager::RunJob(const std::shared_ptr<ActiveJob>& active) {
  const v1::Job job = active->job;
  std::error_code ec;
  const std::string work_dir = WorkDir(job.id());
  std::filesystem::create_directories(work_dir, ec);
  absl::StatusOr<JobOutcome> outcome;
  if (ec) {
    outcome = absl::InternalError(absl::StrCat("cannot create job directory ",
                                               work_dir, ": ", ec.message()));
  } else {
    JobContext context;
    context.job = &job;
    context.work_dir = work_dir;
    context.intra_op_threads = options_.intra_op_threads;
    context.cancel = &active->token;
    context.progress = [this, a = active.get()](const v1::JobProgress& p) {
      OnProgress(a, p);
    };
    outcome = executor_->Execute(context);
  }
  Finish(active, outcome);
}

void JobManager::OnProgress(ActiveJob* active,
                            const v1::JobProgress& progress) {
  v1::Job to_persist;
  bool persist = false;
  Delivery changed;
  {
    absl::MutexLock lock(&mu_);
    v1::Job& job = active->job;
    *job.mutable_progress() = progress;
    if (active->resume_unreported && progress.phase() == "finetune") {
      active->resume_unreported = false;
      job.set_resumed_from_epoch(progress.epoch());
    }
    active->revision = next_revision_++;
    changed_.SignalAll();
    const absl::Time now = absl::Now();
    if (now - active->last_persist >= options_.persist_interval) {
      active->last_persist = now;
      to_persist = job;
      persist = true;
    }
    const bool news = progress.phase() != active->delivered_phase ||
                      progress.round() != active->delivered_round ||
                      progress.epoch() != active->delivered_epoch;
    if (news ||
        now - active->last_delivery >= options_.watch_progress_interval) {
      active->last_delivery = now;
      active->delivered_phase = progress.phase();
      active->delivered_round = progress.round();
      active->delivered_epoch = progress.epoch();
      changed = CollectListenersLocked(*active, false);
    }
  }
  Deliver(changed);
  if (metrics_ != nullptr) {
    metrics_->UpdateRunning(active->job.id(), active->job.spec().model_name(),
                            progress.fraction_done(),
                            progress.images_per_second(),
                            progress.last_top1_accuracy());
  }
  if (persist) Persist(to_persist);
}

void JobManager::Finish(const std::shared_ptr<ActiveJob>& active,
                        const absl::StatusOr<JobOutcome>& outcome) {
  v1::Job job;
  bool interrupted = false;
  {
    absl::MutexLock lock(&mu_);
    interrupted = stopping_ && !active->cancel_requested && !outcome.ok() &&
                  absl::IsCancelled(outcome.status());
    v1::Job& j = active->job;
    if (interrupted) {
      // Shutdown, not the user: leave it for the next start to resume.
      j.set_state(v1::JOB_STATE_QUEUED);
      SetJobPhase(Phase::kQueued, *j.mutable_progress());
    } else if (outcome.ok()) {
      j.set_state(v1::JOB_STATE_SUCCEEDED);
      j.set_result_model_name(outcome->model_name);
      j.set_result_model_version(outcome->model_version);
      *j.mutable_report() = outcome->report;
      j.set_export_dir(outcome->export_dir);
      j.set_xmodel_name(outcome->xmodel_name);
      j.set_xmodel_version(outcome->xmodel_version);
      if (!outcome->compile_status.ok()) {
        j.set_compile_error_code(
            static_cast<int>(outcome->compile_status.code()));
        j.set_compile_error_message(
            std::string(outcome->compile_status.message()));
      }
      SetJobPhase(Phase::kDone, *j.mutable_progress());
      j.mutable_progress()->set_fraction_done(1.0);
    } else if (absl::IsCancelled(outcome.status())) {
      j.set_state(v1::JOB_STATE_CANCELLED);
      j.set_error_message(std::string(outcome.status().message()));
    } else {
      j.set_state(v1::JOB_STATE_FAILED);
      j.set_error_code(static_cast<int>(outcome.status().code()));
      j.set_error_message(std::string(outcome.status().message()));
    }
    if (!interrupted) j.set_finished_unix_ms(NowUnixMs());
    job = j;
  }
  // Written before the job leaves memory, so readers never miss it; a
  // final state the store refuses stays in memory (unsaved_) instead.
  const bool saved = Persist(job).ok();
  if (!interrupted) {
    std::error_code ec;
    std::filesystem::remove_all(WorkDir(job.id()), ec);
  }
  if (metrics_ != nullptr) {
    metrics_->RemoveJob(job.id());
    if (!interrupted) metrics_->RecordFinished(job.state());
  }
  RefreshStateMetrics();
  Delivery ended;
  {
    absl::MutexLock lock(&mu_);
    if (!interrupted) {
      // The final snapshot goes to the listeners, which then leave.
      active->revision = next_revision_++;
      ended = CollectListenersLocked(*active, true);
      auto it = listeners_.find(job.id());
      if (it != listeners_.end()) {
        for (const auto& [sub, listener] : it->second) {
          subscriptions_.erase(sub);
        }
        listeners_.erase(it);
      }
    }
    if (!saved && !interrupted) unsaved_[job.id()] = job;
    active_.erase(job.id());
    changed_.SignalAll();
  }
  Deliver(ended);
}

absl::StatusOr<JobSubscription> JobManager::Subscribe(const std::string& id,
                                                      JobListener listener) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      return absl::UnavailableError("the server is shutting down");
    }
    auto it = active_.find(id);
    if (it != active_.end()) {
      JobSubscription subscription;
      subscription.current = {it->second->job, it->second->revision, false};
      subscription.id = next_subscription_++;
      listeners_[id][subscription.id] =
          std::make_shared<const JobListener>(std::move(listener));
      subscriptions_[subscription.id] = id;
      return subscription;
    }
  }
  // Not active: ended (Finish writes the final state, or keeps it in
  // unsaved_, before the job leaves active_) or unknown.
  auto job = Get(id);
  if (!job.ok()) return job.status();
  JobSubscription subscription;
  subscription.current.final = spec::IsFinalJobState(job->state());
  subscription.current.revision = INT64_MAX;
  subscription.current.job = *std::move(job);
  return subscription;
}

void JobManager::Unsubscribe(int64_t subscription_id) {
  std::shared_ptr<const JobListener> dropped;  // released outside the lock
  absl::MutexLock lock(&mu_);
  auto sub = subscriptions_.find(subscription_id);
  if (sub == subscriptions_.end()) return;
  auto job = listeners_.find(sub->second);
  if (job != listeners_.end()) {
    auto entry = job->second.find(subscription_id);
    if (entry != job->second.end()) {
      dropped = std::move(entry->second);
      job->second.erase(entry);
    }
    if (job->second.empty()) listeners_.erase(job);
  }
  subscriptions_.erase(sub);
}

JobManager::Delivery JobManager::CollectListenersLocked(const ActiveJob& active,
                                                        bool final) const {
  Delivery delivery;
  auto it = listeners_.find(active.job.id());
  if (it == listeners_.end()) return delivery;
  for (const auto& [sub, listener] : it->second) {
    delivery.listeners.push_back(listener);
  }
  delivery.snapshot = JobSnapshot{active.job, active.revision, final};
  return delivery;
}

void JobManager::Deliver(const Delivery& delivery) {
  for (const auto& listener : delivery.listeners)
    (*listener)(delivery.snapshot);
}

absl::Status JobManager::Persist(const v1::Job& job) {
  RetryUnsaved();
  absl::Status s = store_->Update(job);
  if (!s.ok()) {
    std::fprintf(stderr, "pruneserve: cannot record job %s: %s\n",
                 job.id().c_str(), s.ToString().c_str());
  }
  return s;
}

void JobManager::RetryUnsaved() {
  std::vector<v1::Job> pending;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, job] : unsaved_) pending.push_back(job);
  }
  for (const v1::Job& job : pending) {
    if (!store_->Update(job).ok()) continue;
    absl::MutexLock lock(&mu_);
    unsaved_.erase(job.id());
  }
}

void JobManager::RefreshStateMetrics() {
  if (metrics_ == nullptr) return;
  auto counts = store_->CountByState();
  if (counts.ok()) metrics_->SetStateCounts(*counts);
}

void JobManager::PromoteBacklogLocked() {
  while (!backlog_.empty() &&
         static_cast<int>(queue_.size()) < options_.queue_capacity) {
    queue_.push_back(backlog_.front());
    backlog_.pop_front();
  }
}

int64_t JobManager::queued() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(queue_.size());
}

int64_t JobManager::backlog() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(backlog_.size());
}

std::string JobManager::WorkDir(const std::string& id) const {
  return absl::StrCat(options_.work_root, "/", id);
}

}  // namespace pruneserve::jobs
