// A cooperative stop signal for long-running training and evaluation. The
// job that owns a run keeps the token; the trainer polls it once per step and
// returns CANCELLED at the next step boundary after Cancel().
#ifndef PRUNESERVE_CORE_UTIL_CANCELLATION_TOKEN_H_
#define PRUNESERVE_CORE_UTIL_CANCELLATION_TOKEN_H_

#include <atomic>

namespace pruneserve::util {

// Thread-safe: any thread may call Cancel() while the run polls
// IsCancelled(). Cancellation is sticky; a token is used for one run. The
// owner must keep it alive until the run it was handed to has returned.
class CancellationToken {
 public:
  CancellationToken() = default;
  CancellationToken(const CancellationToken&) = delete;
  CancellationToken& operator=(const CancellationToken&) = delete;

  // Requests a stop. Never blocks; idempotent.
  void Cancel() { cancelled_.store(true, std::memory_order_release); }

  // True once Cancel() has been called. Never blocks.
  bool IsCancelled() const {
    return cancelled_.load(std::memory_order_acquire);
  }

 private:
  std::atomic<bool> cancelled_{false};
};

}  // namespace pruneserve::util

#endif  // PRUNESERVE_CORE_UTIL_CANCELLATION_TOKEN_H_
