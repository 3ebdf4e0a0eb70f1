// TimerQueue: one thread that runs short callbacks at given times. The
// callback services use it for what the gRPC library does not do for them:
// the server-side deadline of calls that came without one, and the idle
// timeout of upload streams. Timers are cancelled when their call ends, so
// the queue holds only timers of calls in flight.
#ifndef PRUNESERVE_SERVER_TIMER_QUEUE_H_
#define PRUNESERVE_SERVER_TIMER_QUEUE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace pruneserve {

// Thread-safe. Owns its thread (started by the constructor, joined by Stop()
// or the destructor). Callbacks run on that thread, one at a time, without
// the queue's lock; they must not block.
class TimerQueue {
 public:
  TimerQueue();
  ~TimerQueue();
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  // Runs `callback` at `when` (at once when it has passed). Returns an id
  // for Cancel(); 0 after Stop() (the callback is dropped). Not blocking.
  int64_t Schedule(absl::Time when, std::function<void()> callback);

  // Drops the timer unless it already ran or is running. Unknown ids are
  // ignored. Not blocking.
  void Cancel(int64_t id);

  // Drops every pending timer and joins the thread. Idempotent.
  void Stop();

  // Timers waiting to run.
  size_t pending() const;

 private:
  void Loop();

  mutable absl::Mutex mu_;
  // By (time, id): the earliest first.
  std::map<std::pair<absl::Time, int64_t>, std::function<void()>> timers_
      ABSL_GUARDED_BY(mu_);
  std::map<int64_t, absl::Time> when_ ABSL_GUARDED_BY(mu_);
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_TIMER_QUEUE_H_
