// The client-streaming upload shared by UploadModel and UploadDataset: a
// header message, then chunks, then a half-close that commits on the
// executor. The reactor holds one of --max_concurrent_uploads slots while it
// lives, ends an upload idle for --upload_idle_timeout_seconds with
// DEADLINE_EXCEEDED, and never commits a cancelled stream. What differs per
// upload kind comes from a Target:
//
//   struct Target {
//     using Request = ...;   // has_header(), header(), chunk()
//     using Response = ...;
//     using Session = ...;   // Append(chunk) -> Status, Commit() ->
//     StatusOr<R> static constexpr const char* kUploads;     // "model uploads"
//     static constexpr const char* kHeaderName;  // "UploadModelHeader"
//     static absl::StatusOr<std::unique_ptr<Session>> Begin(
//         ServerCore& core, const Header& header);
//     static void Store(R result, Response* response);
//   };
//
// gRPC threads deliver messages, the timer thread checks idleness, the
// executor commits; all of them go through the shared Guard
// (callback_rpc.h explains the lifetime rule). A dropped session discards
// its temporary file.
#ifndef PRUNESERVE_SERVER_UPLOAD_REACTOR_H_
#define PRUNESERVE_SERVER_UPLOAD_REACTOR_H_

#include <atomic>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/util/limit_status.h"
#include "server/callback_rpc.h"
#include "server/grpc_status.h"
#include "server/server_core.h"

namespace pruneserve {

// "<what> for 1m (--upload_idle_timeout_seconds); the stream is closed".
std::string IdleStreamMessage(absl::string_view what, absl::Duration idle);

template <typename Target>
class UploadReactor final
    : public grpc::ServerReadReactor<typename Target::Request> {
 public:
  using Request = typename Target::Request;
  using Response = typename Target::Response;
  using Session = typename Target::Session;

  struct Guard {
    absl::Mutex mu;
    UploadReactor* reactor ABSL_GUARDED_BY(mu) = nullptr;
  };

  // Takes an upload slot, or finishes at once with RESOURCE_EXHAUSTED when
  // none is free. gRPC owns the reactor: it deletes itself in OnDone().
  UploadReactor(grpc::CallbackServerContext* context, ServerCore* core,
                const RpcRuntime& runtime, std::atomic<int>* open_uploads,
                Response* response)
      : context_(context),
        core_(core),
        runtime_(runtime),
        open_uploads_(open_uploads),
        response_(response),
        guard_(std::make_shared<Guard>()) {
    absl::MutexLock lock(&guard_->mu);
    guard_->reactor = this;
    const int open = open_uploads_->fetch_add(1) + 1;
    holds_slot_ = true;
    if (open > runtime_.max_concurrent_uploads) {
      absl::Status refused = LimitExceededError(
          absl::StatusCode::kResourceExhausted, "max_concurrent_uploads",
          absl::StrCat(open - 1, " ", Target::kUploads,
                       " are open; the limit is ",
                       runtime_.max_concurrent_uploads,
                       " (--max_concurrent_uploads): retry when one ends"));
      if (runtime_.refusals != nullptr) {
        runtime_.refusals->Record("max_concurrent_uploads");
      }
      FinishLocked(ToGrpcStatus(refused));
      return;
    }
    last_activity_ = absl::Now();
    ScheduleIdleCheckLocked();
    this->StartRead(&message_);
  }

  void OnReadDone(bool ok) override {
    absl::MutexLock lock(&guard_->mu);
    if (finished_) return;
    last_activity_ = absl::Now();
    if (!ok) {
      // Half-close (everything was sent) or cancellation: a cancelled
      // upload is never committed, whichever callback comes first.
      if (context_->IsCancelled()) {
        FinishLocked(Cancelled());
        return;
      }
      CommitLocked();
      return;
    }
    if (session_ == nullptr) {
      if (!message_.has_header()) {
        FinishLocked(grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT,
            absl::StrCat("missing header: the first message of an upload "
                         "must be an ",
                         Target::kHeaderName)));
        return;
      }
      auto session = Target::Begin(*core_, message_.header());
      if (!session.ok()) {
        FinishLocked(ToGrpcStatus(session.status()));
        return;
      }
      session_ = *std::move(session);
    } else {
      if (message_.has_header()) {
        FinishLocked(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                  "a second header arrived mid-upload"));
        return;
      }
      absl::Status s = session_->Append(message_.chunk());
      if (!s.ok()) {
        FinishLocked(ToGrpcStatus(s));
        return;
      }
    }
    this->StartRead(&message_);
  }

  void OnCancel() override {
    absl::MutexLock lock(&guard_->mu);
    FinishLocked(Cancelled());
  }

  void OnDone() override {
    int64_t timer = 0;
    {
      absl::MutexLock lock(&guard_->mu);
      guard_->reactor = nullptr;
      timer = timer_id_;
      timer_id_ = 0;
      ReleaseSlotLocked();
    }
    if (timer != 0) runtime_.timers->Cancel(timer);
    delete this;  // an unfinished session_ discards its temp file
  }

 private:
  static grpc::Status Cancelled() {
    return grpc::Status(grpc::StatusCode::CANCELLED,
                        "upload cancelled before it finished");
  }

  void CommitLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(guard_->mu) {
    if (session_ == nullptr) {
      FinishLocked(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                "empty upload: the stream carried no header"));
      return;
    }
    committing_ = true;
    // Checks, validation, extraction and the index write: seconds for a
    // large upload, on the executor.
    const bool queued = runtime_.executor->Submit(
        [guard = guard_,
         session = std::shared_ptr<Session>(std::move(session_))] {
          auto result = session->Commit();
          absl::MutexLock lock(&guard->mu);
          UploadReactor* r = guard->reactor;
          if (r == nullptr) return;
          if (!result.ok()) {
            r->FinishLocked(ToGrpcStatus(result.status()));
            return;
          }
          Target::Store(*std::move(result), r->response_);
          r->FinishLocked(grpc::Status::OK);
        });
    if (!queued) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                "the server is shutting down"));
    }
  }

  void ScheduleIdleCheckLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(guard_->mu) {
    timer_id_ = runtime_.timers->Schedule(
        last_activity_ + runtime_.idle_timeout, [guard = guard_] {
          absl::MutexLock lock(&guard->mu);
          if (guard->reactor != nullptr) guard->reactor->CheckIdleLocked();
        });
  }

  void CheckIdleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(guard_->mu) {
    timer_id_ = 0;
    if (finished_ || committing_) return;
    if (absl::Now() - last_activity_ < runtime_.idle_timeout) {
      ScheduleIdleCheckLocked();
      return;
    }
    session_.reset();  // removes the temp file now
    FinishLocked(grpc::Status(
        grpc::StatusCode::DEADLINE_EXCEEDED,
        IdleStreamMessage("no upload message arrived", runtime_.idle_timeout)));
  }

  void FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(guard_->mu) {
    if (finished_) return;
    finished_ = true;
    if (!status.ok()) session_.reset();
    ReleaseSlotLocked();
    this->Finish(status);
  }

  void ReleaseSlotLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(guard_->mu) {
    if (holds_slot_) open_uploads_->fetch_sub(1);
    holds_slot_ = false;
  }

  grpc::CallbackServerContext* const context_;
  ServerCore* const core_;
  const RpcRuntime& runtime_;
  std::atomic<int>* const open_uploads_;
  Response* const response_;
  const std::shared_ptr<Guard> guard_;
  // The rest is guarded by guard_->mu.
  Request message_;
  std::unique_ptr<Session> session_;
  absl::Time last_activity_;
  int64_t timer_id_ = 0;
  bool holds_slot_ = false;
  bool committing_ = false;
  bool finished_ = false;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_UPLOAD_REACTOR_H_
