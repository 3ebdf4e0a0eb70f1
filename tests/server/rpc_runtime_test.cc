// BlockingExecutor and TimerQueue: the executor and timers the callback
// services share.
#include <atomic>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "server/blocking_executor.h"
#include "server/timer_queue.h"

namespace pruneserve {
namespace {

TEST(BlockingExecutorTest, RunsWorkOnItsThreadsAndDropsQueuedWorkAtStop) {
  EXPECT_EQ(BlockingExecutor::Create({0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto executor = BlockingExecutor::Create({2});
  ASSERT_TRUE(executor.ok());
  // Two blocked items occupy both threads; a third waits in the queue.
  absl::Notification release;
  absl::BlockingCounter started(2);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE((*executor)->Submit([&] {
      started.DecrementCount();
      release.WaitForNotification();
    }));
  }
  started.Wait();
  std::atomic<bool> third_ran{false};
  ASSERT_TRUE((*executor)->Submit([&] { third_ran = true; }));
  EXPECT_EQ((*executor)->queued(), 1u);
  release.Notify();
  // Stop drops what has not started (the third may have started by now:
  // either it ran or it was dropped, never both, and Submit then refuses).
  (*executor)->Stop();
  EXPECT_EQ((*executor)->queued(), 0u);
  EXPECT_FALSE((*executor)->Submit([] {}));
}

TEST(TimerQueueTest, RunsDueTimersInOrderAndSkipsCancelledOnes) {
  TimerQueue timers;
  absl::Mutex mu;
  std::vector<int> ran;
  absl::Notification last;
  const absl::Time now = absl::Now();
  timers.Schedule(now + absl::Milliseconds(30), [&] {
    absl::MutexLock lock(&mu);
    ran.push_back(3);
    last.Notify();
  });
  timers.Schedule(now + absl::Milliseconds(10), [&] {
    absl::MutexLock lock(&mu);
    ran.push_back(2);
  });
  const int64_t cancelled = timers.Schedule(now + absl::Milliseconds(20), [&] {
    absl::MutexLock lock(&mu);
    ran.push_back(99);
  });
  timers.Schedule(now - absl::Seconds(1), [&] {  // already due
    absl::MutexLock lock(&mu);
    ran.push_back(1);
  });
  timers.Cancel(cancelled);
  timers.Cancel(cancelled);  // twice is harmless
  last.WaitForNotification();
  absl::MutexLock lock(&mu);
  EXPECT_EQ(ran, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(timers.pending(), 0u);
}

TEST(TimerQueueTest, StopDropsPendingTimers) {
  TimerQueue timers;
  std::atomic<bool> ran{false};
  EXPECT_GT(timers.Schedule(absl::Now() + absl::Hours(1), [&] { ran = true; }),
            0);
  EXPECT_EQ(timers.pending(), 1u);
  timers.Stop();
  EXPECT_EQ(timers.pending(), 0u);
  EXPECT_EQ(timers.Schedule(absl::Now(), [&] { ran = true; }), 0);
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace pruneserve
