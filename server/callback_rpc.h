// What the callback-API services share: the runtime (executor for blocking
// work, timers, server-side time limits) and the unary reactor they finish
// from other threads.
//
// Lifetime rule of every reactor here: gRPC deletes nothing of a call until
// the reactor's OnDone(), and OnDone() follows Finish(). Threads other than
// gRPC's (the executor, the timer thread, the batcher, the job manager)
// therefore never hold a reactor pointer of their own: they hold a shared
// CallGuard, which forgets the reactor in OnDone() under the same lock they
// take to use it. Reactor methods (Finish, StartWrite, StartRead) are called
// with that lock held; gRPC never runs a reaction inline from them (its own
// health service relies on the same).
//
//   grpc::ServerUnaryReactor* Svc::GetThing(grpc::CallbackServerContext* ctx,
//                                           const Req* q, Resp* r) {
//     return RunBlocking(ctx, runtime_, r, [core = core_, q = *q] {
//       return core->things().Get(q.name());   // absl::StatusOr<Resp>
//     });
//   }
#ifndef PRUNESERVE_SERVER_CALLBACK_RPC_H_
#define PRUNESERVE_SERVER_CALLBACK_RPC_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/metrics/admission_refusals.h"
#include "server/blocking_executor.h"
#include "server/grpc_status.h"
#include "server/timer_queue.h"

namespace pruneserve {

// Borrowed by the services; owned by the Server, which outlives them.
struct RpcRuntime {
  // Runs blocking handler work off the gRPC callback threads.
  BlockingExecutor* executor = nullptr;
  // Server-side deadlines and idle timeouts.
  TimerQueue* timers = nullptr;
  // Deadline of a unary call whose client set none
  // (--default_rpc_deadline_seconds). A client deadline is kept as it is.
  absl::Duration default_deadline = absl::Seconds(120);
  // A stream (upload, download) with no message for this long is ended
  // with DEADLINE_EXCEEDED (--upload_idle_timeout_seconds).
  absl::Duration idle_timeout = absl::Seconds(60);
  // Uploads open at once (--max_concurrent_uploads); one more is
  // RESOURCE_EXHAUSTED naming the limit.
  int max_concurrent_uploads = 64;
  // Counts refusals by a limit (pruneserve_admission_refusals_total); may
  // be null.
  AdmissionRefusals* refusals = nullptr;
};

// The deadline a call works under: the client's, or now + the default.
absl::Time EffectiveDeadline(const grpc::CallbackServerContext& ctx,
                             absl::Duration default_deadline);

// Shared by a unary reactor and whoever finishes it from another thread.
// Thread-safe.
class UnaryCall {
 public:
  // Finishes the call with what `fill` returns, unless it already finished
  // (deadline, cancellation, an earlier Finish). `fill` runs under the
  // call's lock only while the call is live, so it may read the request and
  // write the response gRPC gave the handler. Returns whether it ran. Not
  // blocking.
  bool Finish(absl::FunctionRef<grpc::Status()> fill);
  bool Finish(const grpc::Status& status) {
    return Finish([&] { return status; });
  }
  // True once the client cancelled or the call finished: work not yet
  // started need not start.
  bool done() const { return done_.load(); }
  // Cheap, for InferenceRequest::is_cancelled.
  bool cancelled() const { return cancelled_.load(); }

  // Starts the reactor of a unary call and arms the server-side deadline
  // when the client set none. gRPC owns the returned reactor; return it from
  // the handler.
  static std::pair<grpc::ServerUnaryReactor*, std::shared_ptr<UnaryCall>> Start(
      grpc::CallbackServerContext* ctx, const RpcRuntime& runtime);

 private:
  class Reactor;

  mutable absl::Mutex mu_;
  Reactor* reactor_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  TimerQueue* timers_ = nullptr;
  int64_t timer_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<bool> done_{false};
  std::atomic<bool> cancelled_{false};
};

// Finishes a call at once on the calling gRPC thread (for handlers that
// only read memory).
grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx,
                                    const grpc::Status& status);

// Runs `work` (returning absl::StatusOr<Response>) on the executor and
// finishes the call with its result: the response is moved into `response`
// on success, the status converted by ToGrpcStatus otherwise. Work whose
// call ended while it was queued does not run. `work` must own what it
// reads: the request may be gone by the time it runs.
template <typename Response, typename Work>
grpc::ServerUnaryReactor* RunBlocking(grpc::CallbackServerContext* ctx,
                                      const RpcRuntime& runtime,
                                      Response* response, Work work) {
  auto [reactor, call] = UnaryCall::Start(ctx, runtime);
  const bool queued = runtime.executor->Submit(
      [call = call, response, work = std::move(work)]() mutable {
        if (call->done()) return;
        absl::StatusOr<Response> result = work();
        call->Finish([&]() -> grpc::Status {
          if (!result.ok()) return ToGrpcStatus(result.status());
          *response = *std::move(result);
          return grpc::Status::OK;
        });
      });
  if (!queued) {
    call->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "the server is shutting down"));
  }
  return reactor;
}

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_CALLBACK_RPC_H_
