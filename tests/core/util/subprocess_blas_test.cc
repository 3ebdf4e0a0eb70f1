// Starting processes from a process whose other threads are inside
// LibTorch's BLAS (OpenBLAS): fork() would run OpenBLAS's atfork handler,
// which joins its worker threads and hangs when two starts race or one
// lands during a threaded matrix multiply. A hang here shows as the suite's
// CTest timeout.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <thread>
#include <vector>

#include "core/util/subprocess.h"

namespace pruneserve {
namespace {

TEST(SubprocessBlasTest, StartsRaceWithThreadedMatrixMultiplies) {
  std::atomic<bool> done{false};
  std::vector<std::thread> multipliers;
  for (int t = 0; t < 2; ++t) {
    multipliers.emplace_back([&done] {
      const at::Tensor a = at::rand({384, 384});
      while (!done.load()) {
        const at::Tensor c = at::mm(a, a);
        ASSERT_EQ(c.size(0), 384);
      }
    });
  }
  std::vector<std::thread> starters;
  std::atomic<int> succeeded{0};
  for (int t = 0; t < 3; ++t) {
    starters.emplace_back([&succeeded] {
      for (int i = 0; i < 15; ++i) {
        SubprocessOptions options;
        options.argv = {"/bin/true"};
        options.timeout = absl::Seconds(30);
        auto result = Subprocess::Run(options);
        if (result.ok() && result->exit_code == 0) ++succeeded;
      }
    });
  }
  for (std::thread& t : starters) t.join();
  done = true;
  for (std::thread& t : multipliers) t.join();
  EXPECT_EQ(succeeded.load(), 45);
}

TEST(SubprocessBlasTest, TheCallersSignalMaskIsRestored) {
  sigset_t before;
  sigemptyset(&before);
  sigaddset(&before, SIGUSR2);
  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, &before, nullptr), 0);
  SubprocessOptions options;
  options.argv = {"/bin/true"};
  ASSERT_TRUE(Subprocess::Run(options).ok());
  sigset_t after;
  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, nullptr, &after), 0);
  EXPECT_TRUE(sigismember(&after, SIGUSR2));
  EXPECT_FALSE(sigismember(&after, SIGTERM));
  sigset_t none;
  sigemptyset(&none);
  ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
}

}  // namespace
}  // namespace pruneserve
