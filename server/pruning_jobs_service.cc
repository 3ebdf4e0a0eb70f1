#include "server/pruning_jobs_service.h"

#include <deque>
#include <optional>
#include <string>

#include "server/grpc_status.h"

namespace pruneserve {
namespace {

// One WatchJob stream. Snapshots come from the job manager's threads
// through a listener holding the shared Guard; writes go out one at a time,
// queued in between. See callback_rpc.h for the lifetime rule.
class WatchReactor final : public grpc::ServerWriteReactor<v1::JobEvent> {
 public:
  struct Guard {
    absl::Mutex mu;
    WatchReactor* reactor ABSL_GUARDED_BY(mu) = nullptr;
  };

  WatchReactor(jobs::JobManager* jobs, const RpcRuntime& runtime,
               std::string id)
      : jobs_(jobs), guard_(std::make_shared<Guard>()) {
    {
      absl::MutexLock lock(&guard_->mu);
      guard_->reactor = this;
    }
    // Subscribing may read the job database (for an ended job): executor.
    const bool queued =
        runtime.executor->Submit([jobs, guard = guard_, id = std::move(id)] {
          Subscribe(jobs, guard, id);
        });
    if (!queued) {
      absl::MutexLock lock(&guard_->mu);
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                "the server is shutting down"));
    }
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&guard_->mu);
    writing_ = false;
    if (!ok) {
      FinishLocked(
          grpc::Status(grpc::StatusCode::CANCELLED, "the watcher went away"));
      return;
    }
    WriteNextLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&guard_->mu);
    FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
  }

  void OnDone() override {
    int64_t subscription = 0;
    {
      absl::MutexLock lock(&guard_->mu);
      guard_->reactor = nullptr;
      subscription = subscription_;
    }
    if (subscription != 0) jobs_->Unsubscribe(subscription);
    delete this;
  }

 private:
  static void Subscribe(jobs::JobManager* jobs,
                        const std::shared_ptr<Guard>& guard,
                        const std::string& id) {
    auto subscription = jobs->Subscribe(
        id, [guard](const absl::StatusOr<jobs::JobSnapshot>& s) {
          absl::MutexLock lock(&guard->mu);
          if (guard->reactor != nullptr) guard->reactor->OnSnapshotLocked(s);
        });
    bool ended = false;
    {
      absl::MutexLock lock(&guard->mu);
      WatchReactor* reactor = guard->reactor;
      ended = reactor == nullptr;
      if (reactor != nullptr && !subscription.ok()) {
        reactor->OnSnapshotLocked(subscription.status());
      } else if (reactor != nullptr) {
        // OnDone() ends the subscription from now on.
        reactor->subscription_ = subscription->id;
        reactor->OnSnapshotLocked(std::move(subscription->current));
      }
    }
    // The call ended while subscribing.
    if (ended && subscription.ok() && subscription->id != 0) {
      jobs->Unsubscribe(subscription->id);
    }
  }

  // Queues the job of `s` unless it is older than what was queued or equal
  // to the last job queued or sent; an error ends the stream.
  void OnSnapshotLocked(const absl::StatusOr<jobs::JobSnapshot>& s)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(guard_->mu) {
    if (finish_status_.has_value()) return;
    if (!s.ok()) {
      FinishLocked(ToGrpcStatus(s.status()));
      return;
    }
    if (s->final) final_ = true;
    if (s->revision <= revision_ && !s->final) return;
    revision_ = std::max(revision_, s->revision);
    std::string bytes = s->job.SerializeAsString();
    const std::string& newest = queue_.empty() ? last_sent_ : queue_.back();
    if (bytes != newest) {
      // Progress inside one phase replaces queued progress of that phase;
      // a new phase or state is always kept.
      if (!queue_.empty() && SamePhase(queue_.back(), s->job)) {
        queue_.back() = std::move(bytes);
      } else {
        queue_.push_back(std::move(bytes));
      }
    }
    if (!writing_) WriteNextLocked();
  }

  static bool SamePhase(const std::string& queued, const v1::Job& job) {
    v1::Job q;
    q.ParseFromString(queued);
    return q.state() == job.state() &&
           q.progress().phase() == job.progress().phase() &&
           q.progress().round() == job.progress().round() &&
           q.progress().epoch() == job.progress().epoch();
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(guard_->mu) {
    if (finish_status_.has_value()) {
      if (!finished_) {
        finished_ = true;
        Finish(*finish_status_);
      }
      return;
    }
    if (queue_.empty()) {
      if (final_) FinishLocked(grpc::Status::OK);
      return;
    }
    last_sent_ = std::move(queue_.front());
    queue_.pop_front();
    event_.mutable_job()->ParseFromString(last_sent_);
    writing_ = true;
    StartWrite(&event_);
  }

  // Finishes now, or after the write in flight completes.
  void FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(guard_->mu) {
    if (finish_status_.has_value()) return;
    finish_status_ = status;
    if (!writing_) WriteNextLocked();
  }

  jobs::JobManager* const jobs_;
  const std::shared_ptr<Guard> guard_;
  // The rest is guarded by guard_->mu.
  int64_t subscription_ = 0;
  int64_t revision_ = -1;
  bool final_ = false;
  bool writing_ = false;
  bool finished_ = false;
  std::optional<grpc::Status> finish_status_;
  // Serialized jobs waiting to be written, oldest first.
  std::deque<std::string> queue_;
  std::string last_sent_;
  v1::JobEvent event_;
};

}  // namespace

grpc::ServerUnaryReactor* PruningJobsService::SubmitJob(
    grpc::CallbackServerContext* context, const v1::SubmitJobRequest* request,
    v1::SubmitJobResponse* response) {
  std::string submitter;
  if (authorizer_ != nullptr) {
    if (auto caller = authorizer_->CallerOf(*context)) submitter = caller->name;
  }
  return RunBlocking(context, *runtime_, response,
                     [core = core_, spec = request->spec(),
                      submitter]() -> absl::StatusOr<v1::SubmitJobResponse> {
                       auto job = core->SubmitJob(spec, submitter);
                       if (!job.ok()) return job.status();
                       v1::SubmitJobResponse r;
                       *r.mutable_job() = *std::move(job);
                       return r;
                     });
}

grpc::ServerUnaryReactor* PruningJobsService::GetJob(
    grpc::CallbackServerContext* context, const v1::GetJobRequest* request,
    v1::GetJobResponse* response) {
  return RunBlocking(
      context, *runtime_, response,
      [core = core_,
       id = request->id()]() -> absl::StatusOr<v1::GetJobResponse> {
        auto job = core->jobs().Get(id);
        if (!job.ok()) return job.status();
        v1::GetJobResponse r;
        *r.mutable_job() = *std::move(job);
        return r;
      });
}

grpc::ServerWriteReactor<v1::JobEvent>* PruningJobsService::WatchJob(
    grpc::CallbackServerContext*, const v1::WatchJobRequest* request) {
  return new WatchReactor(&core_->jobs(), *runtime_, request->id());
}

grpc::ServerUnaryReactor* PruningJobsService::CancelJob(
    grpc::CallbackServerContext* context, const v1::CancelJobRequest* request,
    v1::CancelJobResponse* response) {
  std::optional<auth::Caller> caller;
  if (authorizer_ != nullptr) caller = authorizer_->CallerOf(*context);
  return RunBlocking(
      context, *runtime_, response,
      [core = core_, authorizer = authorizer_, caller, peer = context->peer(),
       id = request->id()]() -> absl::StatusOr<v1::CancelJobResponse> {
        if (authorizer != nullptr) {
          auto target = core->jobs().Get(id);
          if (!target.ok()) return target.status();
          grpc::Status allowed = authorizer->CheckJobOwner(
              caller, peer, "/pruneserve.v1.PruningJobs/CancelJob",
              target->submitted_by());
          if (!allowed.ok()) {
            return absl::Status(
                static_cast<absl::StatusCode>(allowed.error_code()),
                allowed.error_message());
          }
        }
        auto job = core->jobs().Cancel(id);
        if (!job.ok()) return job.status();
        v1::CancelJobResponse r;
        *r.mutable_job() = *std::move(job);
        return r;
      });
}

grpc::ServerUnaryReactor* PruningJobsService::ListJobs(
    grpc::CallbackServerContext* context, const v1::ListJobsRequest* request,
    v1::ListJobsResponse* response) {
  const int page_size = request->page_size() == 0 ? 100 : request->page_size();
  return RunBlocking(
      context, *runtime_, response,
      [core = core_, state = request->state(), page_size,
       token =
           request->page_token()]() -> absl::StatusOr<v1::ListJobsResponse> {
        auto page = core->jobs().List(state, page_size, token);
        if (!page.ok()) return page.status();
        v1::ListJobsResponse r;
        for (v1::Job& job : page->jobs)
          *r.mutable_jobs()->Add() = std::move(job);
        r.set_next_page_token(page->next_page_token);
        return r;
      });
}

}  // namespace pruneserve
