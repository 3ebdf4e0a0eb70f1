#include "server/timer_queue.h"

namespace pruneserve {

TimerQueue::TimerQueue() : thread_([this] { Loop(); }) {}

TimerQueue::~TimerQueue() { Stop(); }

int64_t TimerQueue::Schedule(absl::Time when, std::function<void()> callback) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return 0;
  const int64_t id = next_id_++;
  timers_.emplace(std::make_pair(when, id), std::move(callback));
  when_[id] = when;
  return id;
}

void TimerQueue::Cancel(int64_t id) {
  std::function<void()> dropped;  // destroyed after the lock is released
  absl::MutexLock lock(&mu_);
  auto it = when_.find(id);
  if (it == when_.end()) return;
  auto timer = timers_.find({it->second, id});
  if (timer != timers_.end()) {
    dropped = std::move(timer->second);
    timers_.erase(timer);
  }
  when_.erase(it);
}

void TimerQueue::Stop() {
  std::map<std::pair<absl::Time, int64_t>, std::function<void()>> dropped;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    dropped.swap(timers_);
    when_.clear();
  }
  if (thread_.joinable()) thread_.join();
}

size_t TimerQueue::pending() const {
  absl::MutexLock lock(&mu_);
  return timers_.size();
}

void TimerQueue::Loop() {
  while (true) {
    std::function<void()> due;
    {
      absl::MutexLock lock(&mu_);
      while (true) {
        if (stopping_) return;
        if (!timers_.empty() && timers_.begin()->first.first <= absl::Now()) {
          break;
        }
        // Wakes for a new earlier timer or Stop(): both change the map.
        const absl::Time next = timers_.empty() ? absl::InfiniteFuture()
                                                : timers_.begin()->first.first;
        const size_t size = timers_.size();
        const auto first = timers_.empty() ? std::pair<absl::Time, int64_t>{}
                                           : timers_.begin()->first;
        auto changed = [&] {
          mu_.AssertHeld();
          return stopping_ || timers_.size() != size ||
                 (!timers_.empty() && timers_.begin()->first != first);
        };
        mu_.AwaitWithDeadline(absl::Condition(&changed), next);
      }
      auto it = timers_.begin();
      due = std::move(it->second);
      when_.erase(it->first.second);
      timers_.erase(it);
    }
    due();
  }
}

}  // namespace pruneserve
