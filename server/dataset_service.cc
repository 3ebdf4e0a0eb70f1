#include "server/dataset_service.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "core/util/limit_status.h"
#include "server/grpc_status.h"

namespace pruneserve {
namespace {

// One UploadDataset stream. gRPC threads deliver messages; the timer
// thread checks idleness; the executor commits. All of them go through the
// shared Guard (callback_rpc.h explains the lifetime rule).
class UploadReactor final
    : public grpc::ServerReadReactor<v1::UploadDatasetRequest> {
 public:
  struct Guard {
    absl::Mutex mu;
    UploadReactor* reactor ABSL_GUARDED_BY(mu) = nullptr;
  };

  UploadReactor(ServerCore* core, const RpcRuntime& runtime,
                std::atomic<int>* open_uploads,
                v1::UploadDatasetResponse* response)
      : core_(core),
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
          absl::StrCat(open - 1, " data-set uploads are open; the limit is ",
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
    StartRead(&message_);
  }

  void OnReadDone(bool ok) override {
    absl::MutexLock lock(&guard_->mu);
    if (finished_) return;
    last_activity_ = absl::Now();
    if (!ok) {
      // Half-close (the whole archive was sent) or cancellation; OnCancel
      // handles the latter.
      CommitLocked();
      return;
    }
    if (upload_ == nullptr) {
      if (!message_.has_header()) {
        FinishLocked(grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT,
            "missing header: the first message of an upload must be an "
            "UploadDatasetHeader"));
        return;
      }
      auto upload = core_->datasets().BeginUpload(message_.header());
      if (!upload.ok()) {
        FinishLocked(ToGrpcStatus(upload.status()));
        return;
      }
      upload_ = *std::move(upload);
    } else {
      if (message_.has_header()) {
        FinishLocked(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                  "a second header arrived mid-upload"));
        return;
      }
      absl::Status s = upload_->Append(message_.chunk());
      if (!s.ok()) {
        FinishLocked(ToGrpcStatus(s));
        return;
      }
    }
    StartRead(&message_);
  }

  void OnCancel() override {
    absl::MutexLock lock(&guard_->mu);
    FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED,
                              "upload cancelled before it finished"));
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
    delete this;  // an unfinished upload_ discards its temp file
  }

 private:
  void CommitLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(guard_->mu) {
    if (upload_ == nullptr) {
      FinishLocked(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                "empty upload: the stream carried no header"));
      return;
    }
    committing_ = true;
    // Extraction, validation and the index write: seconds for a large data
    // set, on the executor.
    const bool queued = runtime_.executor->Submit(
        [guard = guard_, upload = std::shared_ptr<datasets::DatasetUpload>(
                             std::move(upload_))] {
          auto dataset = upload->Commit();
          absl::MutexLock lock(&guard->mu);
          UploadReactor* r = guard->reactor;
          if (r == nullptr) return;
          if (!dataset.ok()) {
            r->FinishLocked(ToGrpcStatus(dataset.status()));
            return;
          }
          *r->response_->mutable_dataset() = *std::move(dataset);
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
    upload_.reset();  // removes the temp file now
    FinishLocked(grpc::Status(
        grpc::StatusCode::DEADLINE_EXCEEDED,
        absl::StrCat("no upload message arrived for ",
                     absl::FormatDuration(runtime_.idle_timeout),
                     " (--upload_idle_timeout_seconds); the stream is "
                     "closed")));
  }

  void FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(guard_->mu) {
    if (finished_) return;
    finished_ = true;
    if (!status.ok()) upload_.reset();
    ReleaseSlotLocked();
    Finish(status);
  }

  void ReleaseSlotLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(guard_->mu) {
    if (holds_slot_) open_uploads_->fetch_sub(1);
    holds_slot_ = false;
  }

  ServerCore* const core_;
  const RpcRuntime& runtime_;
  std::atomic<int>* const open_uploads_;
  v1::UploadDatasetResponse* const response_;
  const std::shared_ptr<Guard> guard_;
  // The rest is guarded by guard_->mu.
  v1::UploadDatasetRequest message_;
  std::unique_ptr<datasets::DatasetUpload> upload_;
  absl::Time last_activity_;
  int64_t timer_id_ = 0;
  bool holds_slot_ = false;
  bool committing_ = false;
  bool finished_ = false;
};

}  // namespace

grpc::ServerReadReactor<v1::UploadDatasetRequest>*
DatasetService::UploadDataset(grpc::CallbackServerContext*,
                              v1::UploadDatasetResponse* response) {
  return new UploadReactor(core_, *runtime_, &open_uploads_, response);
}

grpc::ServerUnaryReactor* DatasetService::ListDatasets(
    grpc::CallbackServerContext* context,
    const v1::ListDatasetsRequest* request,
    v1::ListDatasetsResponse* response) {
  return RunBlocking(
      context, *runtime_, response,
      [core = core_,
       name = request->name()]() -> absl::StatusOr<v1::ListDatasetsResponse> {
        auto list = core->datasets().List(name);
        if (!list.ok()) return list.status();
        v1::ListDatasetsResponse r;
        for (auto& d : *list) *r.add_datasets() = std::move(d);
        return r;
      });
}

grpc::ServerUnaryReactor* DatasetService::GetDataset(
    grpc::CallbackServerContext* context, const v1::GetDatasetRequest* request,
    v1::GetDatasetResponse* response) {
  return RunBlocking(
      context, *runtime_, response,
      [core = core_, name = request->name(), version = request->version()]()
          -> absl::StatusOr<v1::GetDatasetResponse> {
        auto dataset = core->datasets().Get(name, version);
        if (!dataset.ok()) return dataset.status();
        v1::GetDatasetResponse r;
        *r.mutable_dataset() = *std::move(dataset);
        return r;
      });
}

grpc::ServerUnaryReactor* DatasetService::DeleteDataset(
    grpc::CallbackServerContext* context,
    const v1::DeleteDatasetRequest* request,
    v1::DeleteDatasetResponse* response) {
  return RunBlocking(
      context, *runtime_, response,
      [core = core_, name = request->name(), version = request->version()]()
          -> absl::StatusOr<v1::DeleteDatasetResponse> {
        auto deleted = core->DeleteDataset(name, version);
        if (!deleted.ok()) return deleted.status();
        v1::DeleteDatasetResponse r;
        r.set_deleted_versions(*deleted);
        return r;
      });
}

}  // namespace pruneserve
