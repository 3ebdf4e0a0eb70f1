// InstancePool: the serving engine of one loaded model version. N instance
// threads (the paper's "two-thread mode" is instances = 2), each with its own
// BackendSession, share one bounded queue with a dynamic batcher in front:
// a thread takes the oldest request, then keeps adding queued requests until
// the batch reaches max_batch_size or a preferred size, or max_queue_delay
// has passed since the oldest request arrived. Requests whose deadline has
// passed or whose caller has gone are failed without being computed. Each
// request is isolated from the others in its batch: one whose tensors cannot
// be batched (row counts, byte sizes) fails alone, and requests whose shapes
// do not concatenate run as separate sub-batches.
#ifndef PRUNESERVE_CORE_INFERENCE_INSTANCE_POOL_H_
#define PRUNESERVE_CORE_INFERENCE_INSTANCE_POOL_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/inference/inference_backend.h"

namespace pruneserve::inference {

struct BatchingOptions {
  // Largest batch (sum of the requests' dim 0) sent to a session.
  int64_t max_batch_size = 8;
  // How long the oldest request may wait for others to join its batch.
  absl::Duration max_queue_delay = absl::Microseconds(500);
  // Batch sizes dispatched at once when reached (e.g. the DPU runner's
  // batch); empty means only max_batch_size and the delay end a batch.
  std::vector<int64_t> preferred_batch_sizes;
  // Requests waiting beyond this are refused with RESOURCE_EXHAUSTED.
  int64_t max_queue_size = 1024;
};

struct InstancePoolOptions {
  // Threads, each owning one BackendSession.
  int instances = 1;
  BatchingOptions batching;
  // Runs first on every instance thread, before it takes work (ModelManager
  // gives the thread its LibTorch intra-op threads here). Empty: nothing.
  std::function<void()> thread_setup;
};

struct InferenceRequest {
  // One tensor per backend input, in the backend's order, already validated
  // against its specs (same trailing dims, FP32).
  std::vector<HostTensor> inputs;
  // Past this the request is failed with DEADLINE_EXCEEDED, not computed.
  absl::Time deadline = absl::InfiniteFuture();
  // Polled before compute; true drops the request with CANCELLED.
  std::function<bool()> is_cancelled;
};

struct InferenceResult {
  absl::StatusOr<std::vector<HostTensor>> outputs = absl::UnknownError("");
  // Time from enqueue to the start of its batch's compute.
  absl::Duration queue_time;
  // Compute time of the batch this request ran in.
  absl::Duration compute_time;
  // Rows in that batch (0 when not computed).
  int64_t batch_size = 0;
};

// Receives the result of an InferAsync request, exactly once: on the pool
// thread that computed or dropped it, on the calling thread when it is
// refused at once, or on the thread that calls Stop(). Called with no lock
// of the pool held; must not block.
using InferenceCallback = std::function<void(InferenceResult)>;

// Observes every executed batch (for metrics). Called on pool threads.
using BatchObserver =
    std::function<void(int64_t batch_size, absl::Duration compute_time)>;

// Thread-safe. Owns its threads; Stop() (or the destructor) fails queued
// requests with UNAVAILABLE and joins them. Shares ownership of the backend.
class InstancePool {
 public:
  // Creates options.instances sessions (failing if any cannot be created)
  // and starts the threads.
  static absl::StatusOr<std::unique_ptr<InstancePool>> Create(
      std::shared_ptr<InferenceBackend> backend, InstancePoolOptions options,
      BatchObserver observer = nullptr);
  ~InstancePool();

  // Queues `request` and blocks until it was computed, dropped or its
  // deadline passed. RESOURCE_EXHAUSTED when the queue is full,
  // INVALID_ARGUMENT when its batch exceeds max_batch_size, UNAVAILABLE
  // after Stop().
  InferenceResult Infer(InferenceRequest request);

  // Queues `request` and returns at once; `done` receives the result (the
  // same errors as Infer). No thread waits for it: a request whose deadline
  // passes while it is queued is failed with DEADLINE_EXCEEDED when an
  // instance reaches it, so a caller that must answer at its deadline keeps
  // its own timer.
  void InferAsync(InferenceRequest request, InferenceCallback done);

  // Fails what is queued, lets running batches finish, joins the threads.
  void Stop();

  // Requests queued and not yet taken by a thread.
  int64_t pending() const;
  const InferenceBackend& backend() const { return *backend_; }
  const InstancePoolOptions& options() const { return options_; }

 private:
  struct Pending;

  InstancePool(std::shared_ptr<InferenceBackend> backend,
               InstancePoolOptions options, BatchObserver observer);
  void RunInstance(BackendSession* session);
  // Takes the next batch off the queue, moving dead requests met on the way
  // into `dead` (for the caller to complete without the lock). Empty when
  // stopping, or when only dead requests were found.
  std::vector<std::shared_ptr<Pending>> NextBatch(
      std::vector<std::shared_ptr<Pending>>& dead);
  // Removes dead requests at the queue front into `dead`, with their
  // results set; the caller completes them once the lock is released.
  void DropDeadFrontLocked(std::vector<std::shared_ptr<Pending>>& dead)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Hands `p` its result (once).
  static void Complete(Pending& p);
  // Fails the requests of `batch` that cannot be batched (each with its own
  // error), then runs the others in groups that concatenate.
  void Execute(BackendSession* session,
               std::vector<std::shared_ptr<Pending>>& batch);
  // Concatenates, runs and splits one group of compatible requests.
  void ExecuteGroup(BackendSession* session,
                    const std::vector<Pending*>& batch);

  const std::shared_ptr<InferenceBackend> backend_;
  const InstancePoolOptions options_;
  const BatchObserver observer_;
  std::vector<std::unique_ptr<BackendSession>> sessions_;
  std::vector<std::thread> threads_;

  mutable absl::Mutex mu_;
  absl::CondVar work_ready_;
  std::deque<std::shared_ptr<Pending>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace pruneserve::inference

#endif  // PRUNESERVE_CORE_INFERENCE_INSTANCE_POOL_H_
