// The intra-op thread count is a property of the calling thread: what one
// thread sets does not change another's (LibTorch 1.13, OpenMP backend).
#include "core/util/intra_op_threads.h"

#include <gtest/gtest.h>

#include <thread>

#include "absl/synchronization/notification.h"

namespace pruneserve {
namespace {

TEST(IntraOpThreadsTest, EachThreadKeepsWhatItSet) {
  absl::Notification a_set, b_set;
  int a_after_b = 0, b_seen = 0;
  std::thread a([&] {
    SetIntraOpThreadsOfCallingThread(1);
    a_set.Notify();
    b_set.WaitForNotification();
    a_after_b = IntraOpThreadsOfCallingThread();
  });
  std::thread b([&] {
    a_set.WaitForNotification();
    SetIntraOpThreadsOfCallingThread(3);
    b_seen = IntraOpThreadsOfCallingThread();
    b_set.Notify();
  });
  a.join();
  b.join();
  EXPECT_EQ(a_after_b, 1);
  EXPECT_EQ(b_seen, 3);
}

TEST(IntraOpThreadsTest, ZeroLeavesTheThreadAlone) {
  std::thread t([] {
    SetIntraOpThreadsOfCallingThread(2);
    SetIntraOpThreadsOfCallingThread(0);
    SetIntraOpThreadsOfCallingThread(-1);
    EXPECT_EQ(IntraOpThreadsOfCallingThread(), 2);
  });
  t.join();
}

}  // namespace
}  // namespace pruneserve
