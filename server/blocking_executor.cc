#include "server/blocking_executor.h"

#include "absl/strings/str_cat.h"

namespace pruneserve {

absl::StatusOr<std::unique_ptr<BlockingExecutor>> BlockingExecutor::Create(
    BlockingExecutorOptions options) {
  if (options.threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("RPC worker threads must be >= 1, got ", options.threads));
  }
  auto executor = std::unique_ptr<BlockingExecutor>(new BlockingExecutor());
  for (int i = 0; i < options.threads; ++i) {
    executor->threads_.emplace_back([e = executor.get()] { e->Loop(); });
  }
  return executor;
}

BlockingExecutor::~BlockingExecutor() { Stop(); }

bool BlockingExecutor::Submit(std::function<void()> work) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  queue_.push_back(std::move(work));
  return true;
}

void BlockingExecutor::Stop() {
  std::deque<std::function<void()>> dropped;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    dropped.swap(queue_);
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

size_t BlockingExecutor::queued() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

void BlockingExecutor::Loop() {
  while (true) {
    std::function<void()> work;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this] {
        mu_.AssertHeld();
        return stopping_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work();
  }
}

}  // namespace pruneserve
