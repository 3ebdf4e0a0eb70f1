#include "core/inference/instance_pool.h"

#include <atomic>
#include <cstring>
#include <memory>
#include <set>
#include <thread>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_backend.h"

namespace pruneserve::inference {
namespace {

// Doubles its single FP32 input. Records batch sizes; the first Run can be
// held on a gate so tests control what queues up behind it.
// Batches run through a backend that doubles its input; the state records
// each batch's size and can hold the first batch.
struct FakeState {
  absl::Mutex mu;
  std::vector<int64_t> batches ABSL_GUARDED_BY(mu);
  absl::Notification first_started;
  absl::Notification release_first;
  bool gate_first = false;
  std::atomic<int> runs{0};
};

std::shared_ptr<InferenceBackend> DoublingBackend(
    std::shared_ptr<FakeState> state) {
  return std::make_shared<pruneserve::testing::ScalingBackend>(
      2.0f, [state](const HostTensor& input) {
        if (state->runs++ == 0 && state->gate_first) {
          state->first_started.Notify();
          state->release_first.WaitForNotification();
        }
        absl::MutexLock lock(&state->mu);
        state->batches.push_back(input.batch());
      });
}

InferenceRequest Request(int64_t rows, float base) {
  HostTensor t;
  t.name = "input__0";
  t.shape = {rows, 2};
  std::vector<float> v;
  for (int64_t i = 0; i < rows * 2; ++i) v.push_back(base + i);
  t.bytes.assign(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  InferenceRequest r;
  r.inputs.push_back(std::move(t));
  return r;
}

std::vector<float> Values(const HostTensor& t) {
  std::vector<float> v(t.bytes.size() / 4);
  std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
  return v;
}

class InstancePoolTest : public ::testing::Test {
 protected:
  std::unique_ptr<InstancePool> MakePool(InstancePoolOptions options) {
    auto pool = InstancePool::Create(DoublingBackend(state_), options);
    EXPECT_TRUE(pool.ok()) << pool.status();
    return *std::move(pool);
  }
  std::vector<int64_t> Batches() {
    absl::MutexLock lock(&state_->mu);
    return state_->batches;
  }
  // Blocks the single instance on a first request; returns its thread.
  std::thread HoldFirst(InstancePool& pool) {
    state_->gate_first = true;
    std::thread t([&pool] { pool.Infer(Request(1, 0)); });
    state_->first_started.WaitForNotification();
    return t;
  }
  void WaitPending(InstancePool& pool, int64_t n) {
    while (pool.pending() < n) std::this_thread::yield();
  }

  std::shared_ptr<FakeState> state_ = std::make_shared<FakeState>();
};

TEST_F(InstancePoolTest, ComputesEachRequestsOwnRows) {
  auto pool = MakePool({});
  InferenceResult r = pool->Infer(Request(2, 1));
  ASSERT_TRUE(r.outputs.ok()) << r.outputs.status();
  EXPECT_EQ(Values((*r.outputs)[0]), (std::vector<float>{2, 4, 6, 8}));
  EXPECT_EQ((*r.outputs)[0].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(r.batch_size, 2);
}

TEST_F(InstancePoolTest, QueuedRequestsAreBatchedTogether) {
  InstancePoolOptions options;
  options.batching.max_batch_size = 8;
  options.batching.max_queue_delay = absl::Milliseconds(200);
  auto pool = MakePool(options);
  std::thread first = HoldFirst(*pool);
  std::vector<InferenceResult> results(3);
  std::vector<std::thread> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back(
        [&, i] { results[i] = pool->Infer(Request(2, 10 * i)); });
  }
  WaitPending(*pool, 3);
  state_->release_first.Notify();
  for (auto& c : clients) c.join();
  first.join();
  // The held request ran alone; the three that queued behind it (6 rows,
  // under max 8) shared the next batch, closed by the queue delay.
  EXPECT_EQ(Batches(), (std::vector<int64_t>{1, 6}));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(results[i].outputs.ok());
    EXPECT_EQ(Values((*results[i].outputs)[0]),
              (std::vector<float>{20.f * i, 20.f * i + 2, 20.f * i + 4,
                                  20.f * i + 6}));
    EXPECT_EQ(results[i].batch_size, 6);
  }
}

TEST_F(InstancePoolTest, MaxBatchAndPreferredSizesSplitBatches) {
  InstancePoolOptions options;
  options.batching.max_batch_size = 4;
  options.batching.preferred_batch_sizes = {2};
  options.batching.max_queue_delay = absl::Milliseconds(50);
  auto pool = MakePool(options);
  std::thread first = HoldFirst(*pool);
  std::vector<std::thread> clients;
  for (int i = 0; i < 5; ++i) {
    clients.emplace_back([&] { pool->Infer(Request(1, 0)); });
    WaitPending(*pool, i + 1);  // keep arrival order deterministic
  }
  state_->release_first.Notify();
  for (auto& c : clients) c.join();
  first.join();
  // Preferred size 2 dispatches as soon as two rows are gathered.
  EXPECT_EQ(Batches(), (std::vector<int64_t>{1, 2, 2, 1}));
}

// One bad request in a dynamic batch used to fail every request batched
// with it (the concatenation failed for all).
TEST_F(InstancePoolTest, BadRequestFailsAloneAndItsBatchStillRuns) {
  InstancePoolOptions options;
  options.batching.max_batch_size = 8;
  options.batching.preferred_batch_sizes = {5};  // all five rows below
  options.batching.max_queue_delay = absl::Seconds(30);
  auto pool = MakePool(options);
  // Held on the gate with 5 rows, so that it is dispatched without waiting.
  state_->gate_first = true;
  std::thread first([&] { pool->Infer(Request(5, 0)); });
  state_->first_started.WaitForNotification();

  InferenceRequest good_a = Request(1, 1);  // [1,2]: 1, 2
  InferenceRequest short_bytes = Request(1, 100);
  short_bytes.inputs[0].bytes.resize(4);    // [1,2] needs 8 bytes
  InferenceRequest good_c = Request(2, 5);  // [2,2]: 5..8
  InferenceRequest wider = Request(1, 0);   // [1,3]: does not concat with [*,2]
  wider.inputs[0].shape = {1, 3};
  const float w[] = {7, 8, 9};
  wider.inputs[0].bytes.assign(reinterpret_cast<const char*>(w), sizeof(w));

  std::vector<InferenceRequest> requests;
  requests.push_back(std::move(good_a));
  requests.push_back(std::move(short_bytes));
  requests.push_back(std::move(good_c));
  requests.push_back(std::move(wider));
  std::vector<InferenceResult> results(requests.size());
  std::vector<std::thread> clients;
  for (size_t i = 0; i < requests.size(); ++i) {
    clients.emplace_back(
        [&, i] { results[i] = pool->Infer(std::move(requests[i])); });
    WaitPending(*pool, static_cast<int64_t>(i) + 1);
  }
  state_->release_first.Notify();
  for (auto& c : clients) c.join();
  first.join();

  ASSERT_TRUE(results[0].outputs.ok()) << results[0].outputs.status();
  EXPECT_EQ(Values((*results[0].outputs)[0]), (std::vector<float>{2, 4}));
  EXPECT_EQ(results[1].outputs.status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(results[1].outputs.status().message(),
            "input \"input__0\" FP32[1,2] needs 8 bytes; got 4");
  ASSERT_TRUE(results[2].outputs.ok()) << results[2].outputs.status();
  EXPECT_EQ(Values((*results[2].outputs)[0]),
            (std::vector<float>{10, 12, 14, 16}));
  EXPECT_EQ((*results[2].outputs)[0].shape, (std::vector<int64_t>{2, 2}));
  ASSERT_TRUE(results[3].outputs.ok()) << results[3].outputs.status();
  EXPECT_EQ(Values((*results[3].outputs)[0]), (std::vector<float>{14, 16, 18}));
  EXPECT_EQ((*results[3].outputs)[0].shape, (std::vector<int64_t>{1, 3}));
  // The held request, then [1,2] + [2,2] together and [1,3] on its own; the
  // bad request never reached the backend.
  EXPECT_EQ(Batches(), (std::vector<int64_t>{5, 3, 1}));
  EXPECT_EQ(results[0].batch_size, 3);
  EXPECT_EQ(results[2].batch_size, 3);
  EXPECT_EQ(results[3].batch_size, 1);
}

TEST_F(InstancePoolTest, ExpiredRequestIsNotComputed) {
  auto pool = MakePool({});
  std::thread first = HoldFirst(*pool);
  InferenceRequest late = Request(1, 0);
  late.deadline = absl::Now() + absl::Milliseconds(20);
  InferenceResult r = pool->Infer(std::move(late));
  EXPECT_EQ(r.outputs.status().code(), absl::StatusCode::kDeadlineExceeded);
  state_->release_first.Notify();
  first.join();
  // Give the worker a chance to reach (and drop) the expired entry.
  pool->Infer(Request(1, 0));
  EXPECT_EQ(Batches(), (std::vector<int64_t>{1, 1}));
}

TEST_F(InstancePoolTest, CancelledRequestIsDropped) {
  auto pool = MakePool({});
  std::thread first = HoldFirst(*pool);
  InferenceResult cancelled_result;
  std::thread c([&] {
    InferenceRequest r = Request(1, 0);
    r.is_cancelled = [] { return true; };
    cancelled_result = pool->Infer(std::move(r));
  });
  WaitPending(*pool, 1);
  state_->release_first.Notify();
  c.join();
  first.join();
  EXPECT_EQ(cancelled_result.outputs.status().code(),
            absl::StatusCode::kCancelled);
  EXPECT_EQ(Batches(), (std::vector<int64_t>{1}));
}

TEST_F(InstancePoolTest, FullQueueIsResourceExhausted) {
  InstancePoolOptions options;
  options.batching.max_queue_size = 1;
  options.batching.max_batch_size = 1;
  auto pool = MakePool(options);
  std::thread first = HoldFirst(*pool);
  std::thread queued([&] { pool->Infer(Request(1, 0)); });
  WaitPending(*pool, 1);
  InferenceResult r = pool->Infer(Request(1, 0));
  EXPECT_EQ(r.outputs.status().code(), absl::StatusCode::kResourceExhausted);
  state_->release_first.Notify();
  queued.join();
  first.join();
}

TEST_F(InstancePoolTest, OversizedRequestIsInvalid) {
  InstancePoolOptions options;
  options.batching.max_batch_size = 4;
  auto pool = MakePool(options);
  InferenceResult r = pool->Infer(Request(5, 0));
  EXPECT_EQ(r.outputs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.outputs.status().message().find("max batch size 4"),
            std::string::npos);
}

TEST_F(InstancePoolTest, StopFailsQueuedRequests) {
  auto pool = MakePool({});
  std::thread first = HoldFirst(*pool);
  InferenceResult r;
  std::thread queued([&] { r = pool->Infer(Request(1, 0)); });
  WaitPending(*pool, 1);
  std::thread stopper([&] { pool->Stop(); });
  queued.join();
  EXPECT_EQ(r.outputs.status().code(), absl::StatusCode::kUnavailable);
  state_->release_first.Notify();
  stopper.join();
  first.join();
  EXPECT_EQ(pool->Infer(Request(1, 0)).outputs.status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(InstancePoolTest, SeveralInstancesServeConcurrently) {
  InstancePoolOptions options;
  options.instances = 2;
  options.batching.max_batch_size = 1;
  auto pool = MakePool(options);
  state_->gate_first = true;
  std::thread held([&] { pool->Infer(Request(1, 0)); });
  state_->first_started.WaitForNotification();
  // The second instance answers while the first is blocked.
  InferenceResult r = pool->Infer(Request(1, 3));
  ASSERT_TRUE(r.outputs.ok());
  EXPECT_EQ(Values((*r.outputs)[0]), (std::vector<float>{6, 8}));
  state_->release_first.Notify();
  held.join();
}

TEST_F(InstancePoolTest, ThreadSetupRunsFirstOnEveryInstanceThread) {
  absl::Mutex mu;
  std::set<std::thread::id> setup_threads;
  absl::BlockingCounter both_set_up(2);
  InstancePoolOptions options;
  options.instances = 2;
  options.thread_setup = [&] {
    {
      absl::MutexLock lock(&mu);
      setup_threads.insert(std::this_thread::get_id());
    }
    both_set_up.DecrementCount();
  };
  auto pool = MakePool(options);
  both_set_up.Wait();
  InferenceResult r = pool->Infer(Request(1, 1));
  ASSERT_TRUE(r.outputs.ok()) << r.outputs.status();
  pool->Stop();
  absl::MutexLock lock(&mu);
  EXPECT_EQ(setup_threads.size(), 2u);
  EXPECT_EQ(setup_threads.count(std::this_thread::get_id()), 0u);
}

}  // namespace
}  // namespace pruneserve::inference

namespace pruneserve::inference {
namespace {

// InferAsync: results arrive through the callback with no thread waiting;
// a cancelled request is completed as soon as an instance reaches it, even
// when no other request follows; refusals come back on the calling thread.
TEST_F(InstancePoolTest, InferAsyncCompletesThroughTheCallback) {
  InstancePoolOptions options;
  options.batching.max_queue_size = 2;
  auto pool = MakePool(options);
  std::thread first = HoldFirst(*pool);

  absl::Notification computed_done;
  InferenceResult computed;
  pool->InferAsync(Request(1, 3), [&](InferenceResult r) {
    computed = std::move(r);
    computed_done.Notify();
  });
  absl::Notification cancelled_done;
  InferenceResult cancelled;
  InferenceRequest dropped = Request(1, 0);
  std::atomic<bool> caller_gone{false};
  dropped.is_cancelled = [&caller_gone] { return caller_gone.load(); };
  pool->InferAsync(std::move(dropped), [&](InferenceResult r) {
    cancelled = std::move(r);
    cancelled_done.Notify();
  });
  WaitPending(*pool, 2);
  // The queue is full: refused at once, on this thread.
  bool refused_here = false;
  pool->InferAsync(Request(1, 0), [&](InferenceResult r) {
    refused_here = true;
    EXPECT_EQ(r.outputs.status().code(), absl::StatusCode::kResourceExhausted);
  });
  EXPECT_TRUE(refused_here);

  state_->release_first.Notify();
  first.join();
  computed_done.WaitForNotification();
  ASSERT_TRUE(computed.outputs.ok()) << computed.outputs.status();
  EXPECT_EQ(Values((*computed.outputs)[0]), (std::vector<float>{6, 8}));
  // The cancelled one was batched with the first or failed at the front;
  // either way it completes without another request arriving.
  caller_gone = true;
  cancelled_done.WaitForNotification();
  EXPECT_TRUE(cancelled.outputs.ok() || cancelled.outputs.status().code() ==
                                            absl::StatusCode::kCancelled);
}

// Stop() completes queued InferAsync requests with UNAVAILABLE.
TEST_F(InstancePoolTest, StopFailsQueuedAsyncRequests) {
  auto pool = MakePool({});
  std::thread first = HoldFirst(*pool);
  absl::Notification done;
  absl::StatusCode code = absl::StatusCode::kOk;
  pool->InferAsync(Request(1, 0), [&](InferenceResult r) {
    code = r.outputs.status().code();
    done.Notify();
  });
  WaitPending(*pool, 1);
  std::thread stopper([&] { pool->Stop(); });
  done.WaitForNotification();
  EXPECT_EQ(code, absl::StatusCode::kUnavailable);
  state_->release_first.Notify();
  stopper.join();
  first.join();
}

}  // namespace
}  // namespace pruneserve::inference
