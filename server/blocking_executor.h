// BlockingExecutor: the server's pool of threads for RPC work that blocks
// (SQLite reads and writes, file I/O, upload validation in its subprocess,
// model loads, job submission). The gRPC callback API runs handlers on the
// library's own few threads, which must never block; handlers hand such
// work to this pool and finish their reactor from it.
#ifndef PRUNESERVE_SERVER_BLOCKING_EXECUTOR_H_
#define PRUNESERVE_SERVER_BLOCKING_EXECUTOR_H_

#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace pruneserve {

struct BlockingExecutorOptions {
  // Threads running work at once (--rpc_threads); later work waits in FIFO
  // order. Must be >= 1.
  int threads = 8;
};

// Thread-safe. Owns its threads: started by Create(), joined by Stop() or
// the destructor.
class BlockingExecutor {
 public:
  // INVALID_ARGUMENT for threads < 1.
  static absl::StatusOr<std::unique_ptr<BlockingExecutor>> Create(
      BlockingExecutorOptions options);
  ~BlockingExecutor();
  BlockingExecutor(const BlockingExecutor&) = delete;
  BlockingExecutor& operator=(const BlockingExecutor&) = delete;

  // Queues `work` and returns at once. False after Stop() (the work is not
  // run and is destroyed here).
  bool Submit(std::function<void()> work);

  // Lets running work finish, drops what is still queued (destroying it on
  // the calling thread) and joins the threads. Idempotent; blocks.
  void Stop();

  // Work queued and not yet started.
  size_t queued() const;

 private:
  BlockingExecutor() = default;
  void Loop();

  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_BLOCKING_EXECUTOR_H_
