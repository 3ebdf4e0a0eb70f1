#include "server/model_repository_service.h"

#include <deque>
#include <fstream>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/util/limit_status.h"
#include "server/grpc_status.h"
#include "server/upload_reactor.h"

namespace pruneserve {
namespace {

constexpr size_t kDownloadChunkBytes = 1 << 20;

struct ModelUploadTarget {
  using Request = v1::UploadModelRequest;
  using Response = v1::UploadModelResponse;
  using Session = UploadSession;
  static constexpr const char* kUploads = "uploads";
  static constexpr const char* kHeaderName = "UploadModelHeader";
  static absl::StatusOr<std::unique_ptr<Session>> Begin(
      ServerCore& core, const v1::UploadModelHeader& header) {
    return core.repository().BeginUpload(header);
  }
  static void Store(v1::ModelVersion model, Response* response) {
    *response->mutable_model() = std::move(model);
  }
};

// One DownloadModel stream: the executor checks the blob and reads each
// chunk; the write of a chunk starts the read of the next.
class DownloadReactor final
    : public grpc::ServerWriteReactor<v1::DownloadModelChunk> {
 public:
  struct Guard {
    absl::Mutex mu;
    DownloadReactor* reactor ABSL_GUARDED_BY(mu) = nullptr;
  };

  DownloadReactor(ServerCore* core, const RpcRuntime& runtime,
                  v1::DownloadModelRequest request)
      : core_(core), runtime_(runtime), guard_(std::make_shared<Guard>()) {
    absl::MutexLock lock(&guard_->mu);
    guard_->reactor = this;
    last_activity_ = absl::Now();
    ScheduleIdleCheckLocked();
    SubmitLocked([guard = guard_, core, request = std::move(request)] {
      // Never stream bytes that are not the ones that were uploaded.
      auto model =
          core->repository().GetModel(request.name(), request.version());
      absl::StatusOr<std::string> path =
          model.ok() ? core->repository().VerifiedBlobPath(*model)
                     : absl::StatusOr<std::string>(model.status());
      auto in = std::make_shared<std::ifstream>();
      if (path.ok()) {
        in->open(*path, std::ios::binary);
        if (!*in) {
          path = absl::DataLossError(
              absl::StrCat("stored bytes of ", model->name(), " are missing"));
        }
      }
      absl::MutexLock lock(&guard->mu);
      DownloadReactor* r = guard->reactor;
      if (r == nullptr) return;
      if (!path.ok()) {
        r->FinishLocked(ToGrpcStatus(path.status()));
        return;
      }
      r->in_ = std::move(in);
      *r->chunk_.mutable_model() = *std::move(model);
      r->ReadAndWriteLocked();
    });
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&guard_->mu);
    writing_ = false;
    last_activity_ = absl::Now();
    if (!ok) {
      FinishLocked(
          grpc::Status(grpc::StatusCode::CANCELLED, "download cancelled"));
      return;
    }
    if (finish_status_.has_value() || at_end_) {
      FinishLocked(finish_status_.value_or(grpc::Status::OK));
      return;
    }
    chunk_.clear_model();
    SubmitLocked([guard = guard_] {
      absl::MutexLock lock(&guard->mu);
      if (guard->reactor != nullptr) guard->reactor->ReadAndWriteLocked();
    });
  }

  void OnCancel() override {
    absl::MutexLock lock(&guard_->mu);
    FinishLocked(
        grpc::Status(grpc::StatusCode::CANCELLED, "download cancelled"));
  }

  void OnDone() override {
    int64_t timer = 0;
    {
      absl::MutexLock lock(&guard_->mu);
      guard_->reactor = nullptr;
      timer = timer_id_;
      timer_id_ = 0;
    }
    if (timer != 0) runtime_.timers->Cancel(timer);
    delete this;
  }

 private:
  void SubmitLocked(std::function<void()> work)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(guard_->mu) {
    if (!runtime_.executor->Submit(std::move(work))) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                "the server is shutting down"));
    }
  }

  // Reads the next chunk (on the executor, under the guard: a 1 MiB read
  // from the page cache or disk) and writes it.
  void ReadAndWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(guard_->mu) {
    if (finished_) return;
    buffer_.resize(kDownloadChunkBytes);
    in_->read(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
    const size_t n = static_cast<size_t>(in_->gcount());
    if (n == 0 && !first_) {
      FinishLocked(grpc::Status::OK);
      return;
    }
    first_ = false;
    at_end_ = !*in_;
    chunk_.set_data(buffer_.data(), n);
    writing_ = true;
    StartWrite(&chunk_);
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
    if (finished_) return;
    // Only a write the client does not take counts as idle; reading and
    // checking the blob is the server's own time.
    if (!writing_ || absl::Now() - last_activity_ < runtime_.idle_timeout) {
      if (!writing_) last_activity_ = absl::Now();
      ScheduleIdleCheckLocked();
      return;
    }
    FinishLocked(
        grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                     IdleStreamMessage("the client read no download chunk",
                                       runtime_.idle_timeout)));
  }

  // Finishes now, or after the write in flight completes.
  void FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(guard_->mu) {
    if (finished_) return;
    if (writing_ &&
        status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED &&
        status.error_code() != grpc::StatusCode::CANCELLED) {
      finish_status_ = status;
      return;
    }
    finished_ = true;
    Finish(status);
  }

  ServerCore* const core_;
  const RpcRuntime& runtime_;
  const std::shared_ptr<Guard> guard_;
  // The rest is guarded by guard_->mu.
  std::shared_ptr<std::ifstream> in_;
  std::string buffer_;
  v1::DownloadModelChunk chunk_;
  absl::Time last_activity_;
  int64_t timer_id_ = 0;
  bool first_ = true;
  bool at_end_ = false;
  bool writing_ = false;
  bool finished_ = false;
  std::optional<grpc::Status> finish_status_;
};

}  // namespace

grpc::ServerReadReactor<v1::UploadModelRequest>*
ModelRepositoryService::UploadModel(grpc::CallbackServerContext* context,
                                    v1::UploadModelResponse* response) {
  return new UploadReactor<ModelUploadTarget>(context, core_, *runtime_,
                                              &open_uploads_, response);
}

grpc::ServerUnaryReactor* ModelRepositoryService::ListModels(
    grpc::CallbackServerContext* context, const v1::ListModelsRequest* request,
    v1::ListModelsResponse* response) {
  return RunBlocking(
      context, *runtime_, response,
      [core = core_,
       name = request->name()]() -> absl::StatusOr<v1::ListModelsResponse> {
        auto models = core->repository().ListModels(name);
        if (!models.ok()) return models.status();
        v1::ListModelsResponse r;
        for (auto& m : *models) *r.add_models() = std::move(m);
        return r;
      });
}

grpc::ServerUnaryReactor* ModelRepositoryService::GetModel(
    grpc::CallbackServerContext* context, const v1::GetModelRequest* request,
    v1::GetModelResponse* response) {
  return RunBlocking(
      context, *runtime_, response,
      [core = core_, name = request->name(),
       version = request->version()]() -> absl::StatusOr<v1::GetModelResponse> {
        auto model = core->repository().GetModel(name, version);
        if (!model.ok()) return model.status();
        v1::GetModelResponse r;
        *r.mutable_model() = *std::move(model);
        return r;
      });
}

grpc::ServerWriteReactor<v1::DownloadModelChunk>*
ModelRepositoryService::DownloadModel(grpc::CallbackServerContext*,
                                      const v1::DownloadModelRequest* request) {
  return new DownloadReactor(core_, *runtime_, *request);
}

grpc::ServerUnaryReactor* ModelRepositoryService::DeleteModel(
    grpc::CallbackServerContext* context, const v1::DeleteModelRequest* request,
    v1::DeleteModelResponse* response) {
  return RunBlocking(
      context, *runtime_, response,
      [core = core_, name = request->name(), version = request->version()]()
          -> absl::StatusOr<v1::DeleteModelResponse> {
        auto deleted = core->repository().DeleteModel(name, version);
        if (!deleted.ok()) return deleted.status();
        v1::DeleteModelResponse r;
        r.set_deleted_versions(*deleted);
        return r;
      });
}

grpc::ServerUnaryReactor* ModelRepositoryService::VerifyModels(
    grpc::CallbackServerContext* context,
    const v1::VerifyModelsRequest* request,
    v1::VerifyModelsResponse* response) {
  // Hashes every stored byte of the selected versions: the executor.
  return RunBlocking(
      context, *runtime_, response,
      [core = core_, name = request->name(), version = request->version()]()
          -> absl::StatusOr<v1::VerifyModelsResponse> {
        auto checked = core->repository().VerifyModels(name, version);
        if (!checked.ok()) return checked.status();
        v1::VerifyModelsResponse r;
        for (auto& v : *checked) *r.add_versions() = std::move(v);
        return r;
      });
}

}  // namespace pruneserve
