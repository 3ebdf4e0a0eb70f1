#include "server/callback_rpc.h"

#include <chrono>

#include "absl/strings/str_cat.h"

namespace pruneserve {

absl::Time EffectiveDeadline(const grpc::CallbackServerContext& ctx,
                             absl::Duration default_deadline) {
  const auto client = ctx.deadline();
  // gRPC reports "no deadline" as the largest time point.
  if (client >= std::chrono::system_clock::time_point::max() -
                    std::chrono::hours(24 * 365)) {
    return absl::Now() + default_deadline;
  }
  return absl::FromChrono(client);
}

class UnaryCall::Reactor final : public grpc::ServerUnaryReactor {
 public:
  explicit Reactor(std::shared_ptr<UnaryCall> call) : call_(std::move(call)) {}

  void OnCancel() override {
    call_->cancelled_ = true;
    call_->Finish(
        grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled"));
  }

  void OnDone() override {
    int64_t timer = 0;
    {
      absl::MutexLock lock(&call_->mu_);
      call_->reactor_ = nullptr;
      timer = call_->timer_id_;
      call_->timer_id_ = 0;
    }
    call_->done_ = true;
    if (timer != 0) call_->timers_->Cancel(timer);
    delete this;
  }

 private:
  std::shared_ptr<UnaryCall> call_;
};

std::pair<grpc::ServerUnaryReactor*, std::shared_ptr<UnaryCall>>
UnaryCall::Start(grpc::CallbackServerContext* ctx, const RpcRuntime& runtime) {
  auto call = std::make_shared<UnaryCall>();
  auto* reactor = new Reactor(call);
  call->timers_ = runtime.timers;
  {
    absl::MutexLock lock(&call->mu_);
    call->reactor_ = reactor;
  }
  const auto client = ctx->deadline();
  const bool has_client_deadline =
      client < std::chrono::system_clock::time_point::max() -
                   std::chrono::hours(24 * 365);
  if (!has_client_deadline && runtime.timers != nullptr) {
    const absl::Duration limit = runtime.default_deadline;
    const int64_t id = runtime.timers->Schedule(
        absl::Now() + limit, [weak = std::weak_ptr<UnaryCall>(call), limit] {
          if (auto c = weak.lock()) {
            c->Finish(grpc::Status(
                grpc::StatusCode::DEADLINE_EXCEEDED,
                absl::StrCat("no answer within the server's default deadline "
                             "of ",
                             absl::FormatDuration(limit),
                             " (--default_rpc_deadline_seconds; calls with "
                             "their own deadline keep it)")));
          }
        });
    absl::MutexLock lock(&call->mu_);
    call->timer_id_ = id;
  }
  return {reactor, call};
}

bool UnaryCall::Finish(absl::FunctionRef<grpc::Status()> fill) {
  absl::MutexLock lock(&mu_);
  if (finished_ || reactor_ == nullptr) return false;
  finished_ = true;
  done_ = true;
  reactor_->Finish(fill());
  return true;
}

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx,
                                    const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

}  // namespace pruneserve
