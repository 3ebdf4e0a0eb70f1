#include "core/inference/instance_pool.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "core/util/limit_status.h"

namespace pruneserve::inference {

struct InstancePool::Pending {
  InferenceRequest request;
  absl::Time enqueued;
  int64_t rows = 0;
  InferenceResult result;
  InferenceCallback done;
};

void InstancePool::Complete(Pending& p) {
  InferenceCallback done = std::move(p.done);
  p.done = nullptr;
  // Inputs are not needed any more; free them before the caller runs.
  p.request = InferenceRequest();
  if (done) done(std::move(p.result));
}

InstancePool::InstancePool(std::shared_ptr<InferenceBackend> backend,
                           InstancePoolOptions options, BatchObserver observer)
    : backend_(std::move(backend)),
      options_(std::move(options)),
      observer_(std::move(observer)) {}

absl::StatusOr<std::unique_ptr<InstancePool>> InstancePool::Create(
    std::shared_ptr<InferenceBackend> backend, InstancePoolOptions options,
    BatchObserver observer) {
  if (options.instances < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("instances must be >= 1, got ", options.instances));
  }
  if (options.batching.max_batch_size < 1 ||
      options.batching.max_queue_size < 1) {
    return absl::InvalidArgumentError(
        "max_batch_size and max_queue_size must be >= 1");
  }
  auto pool = std::unique_ptr<InstancePool>(new InstancePool(
      std::move(backend), std::move(options), std::move(observer)));
  for (int i = 0; i < pool->options_.instances; ++i) {
    auto session = pool->backend_->CreateSession();
    if (!session.ok()) return session.status();
    pool->sessions_.push_back(*std::move(session));
  }
  for (auto& session : pool->sessions_) {
    pool->threads_.emplace_back([p = pool.get(), s = session.get()] {
      if (p->options_.thread_setup) p->options_.thread_setup();
      p->RunInstance(s);
    });
  }
  return pool;
}

InstancePool::~InstancePool() { Stop(); }

void InstancePool::Stop() {
  std::deque<std::shared_ptr<Pending>> orphans;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    orphans.swap(queue_);
    work_ready_.SignalAll();
  }
  for (auto& p : orphans) {
    p->result.outputs = absl::UnavailableError("model is being unloaded");
    Complete(*p);
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
}

int64_t InstancePool::pending() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(queue_.size());
}

InferenceResult InstancePool::Infer(InferenceRequest request) {
  // The result lands in state shared with the callback, which may run after
  // this caller gave up at its deadline.
  struct Waiter {
    absl::Notification done;
    InferenceResult result;
  };
  auto waiter = std::make_shared<Waiter>();
  const absl::Time deadline = request.deadline;
  InferAsync(std::move(request), [waiter](InferenceResult result) {
    waiter->result = std::move(result);
    waiter->done.Notify();
  });
  if (!waiter->done.WaitForNotificationWithDeadline(deadline)) {
    // The worker skips it when it reaches the front; its result is ignored
    // if it is already computing.
    InferenceResult late;
    late.outputs = absl::DeadlineExceededError(
        "deadline passed before the request was computed");
    return late;
  }
  return std::move(waiter->result);
}

void InstancePool::InferAsync(InferenceRequest request,
                              InferenceCallback done) {
  auto pending = std::make_shared<Pending>();
  pending->done = std::move(done);
  pending->rows = request.inputs.empty() ? 0 : request.inputs[0].batch();
  if (pending->rows > options_.batching.max_batch_size) {
    pending->result.outputs =
        LimitExceededError(absl::StatusCode::kInvalidArgument, "max_batch_size",
                           absl::StrCat("request batch ", pending->rows,
                                        " exceeds the model's max batch size ",
                                        options_.batching.max_batch_size));
    Complete(*pending);
    return;
  }
  pending->request = std::move(request);
  pending->enqueued = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      pending->result.outputs = absl::UnavailableError("model is unloading");
    } else if (static_cast<int64_t>(queue_.size()) >=
               options_.batching.max_queue_size) {
      pending->result.outputs = LimitExceededError(
          absl::StatusCode::kResourceExhausted, "max_queue_size",
          absl::StrCat("inference queue is full (",
                       options_.batching.max_queue_size,
                       " requests waiting, --max_queue_size)"));
    } else {
      queue_.push_back(pending);
      work_ready_.Signal();
      return;
    }
  }
  Complete(*pending);
}

void InstancePool::DropDeadFrontLocked(
    std::vector<std::shared_ptr<Pending>>& dead) {
  const absl::Time now = absl::Now();
  while (!queue_.empty()) {
    Pending& p = *queue_.front();
    if (p.request.deadline <= now) {
      p.result.outputs = absl::DeadlineExceededError(
          "deadline passed while the request was queued");
    } else if (p.request.is_cancelled && p.request.is_cancelled()) {
      p.result.outputs =
          absl::CancelledError("request cancelled by the caller");
    } else {
      return;
    }
    dead.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
}

std::vector<std::shared_ptr<InstancePool::Pending>> InstancePool::NextBatch(
    std::vector<std::shared_ptr<Pending>>& dead) {
  const BatchingOptions& b = options_.batching;
  std::vector<std::shared_ptr<Pending>> batch;
  absl::MutexLock lock(&mu_);
  while (batch.empty()) {
    while (queue_.empty() && !stopping_) work_ready_.Wait(&mu_);
    if (stopping_) return {};
    DropDeadFrontLocked(dead);
    if (queue_.empty()) {
      // Their callers should hear now, not when the next request comes.
      if (!dead.empty()) return {};
      continue;
    }
    batch.push_back(queue_.front());
    queue_.pop_front();
  }
  int64_t rows = batch[0]->rows;
  const absl::Time gather_until = batch[0]->enqueued + b.max_queue_delay;
  auto preferred = [&](int64_t n) {
    return std::find(b.preferred_batch_sizes.begin(),
                     b.preferred_batch_sizes.end(),
                     n) != b.preferred_batch_sizes.end();
  };
  while (rows < b.max_batch_size && !preferred(rows) && !stopping_) {
    DropDeadFrontLocked(dead);
    if (queue_.empty()) {
      if (work_ready_.WaitWithDeadline(&mu_, gather_until)) break;  // timed out
      continue;
    }
    if (rows + queue_.front()->rows > b.max_batch_size) break;
    rows += queue_.front()->rows;
    batch.push_back(queue_.front());
    queue_.pop_front();
  }
  // Another instance may be idle while requests remain.
  if (!queue_.empty()) work_ready_.Signal();
  return batch;
}

void InstancePool::RunInstance(BackendSession* session) {
  while (true) {
    // Completed here, with the lock released: callbacks may call back into
    // the pool.
    std::vector<std::shared_ptr<Pending>> dead;
    std::vector<std::shared_ptr<Pending>> batch = NextBatch(dead);
    for (auto& p : dead) Complete(*p);
    if (!batch.empty()) {
      Execute(session, batch);
    } else if (dead.empty()) {
      return;  // stopping
    }
  }
}

namespace {

// Why `request` (of `rows` rows) cannot take part in any batch, or OK:
// every input must have a batch dim equal to the request's rows and as many
// bytes as its shape and datatype say.
absl::Status CheckBatchable(const InferenceRequest& request, int64_t rows) {
  if (request.inputs.empty()) {
    return absl::InvalidArgumentError("request has no inputs");
  }
  for (const HostTensor& in : request.inputs) {
    if (in.shape.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input \"", in.name, "\" is a scalar; it cannot be batched"));
    }
    if (in.shape[0] != rows) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input \"", in.name, "\" has ", in.shape[0], " rows; input \"",
          request.inputs[0].name, "\" has ", rows));
    }
    auto count = ElementCount(
        in.shape, std::numeric_limits<int64_t>::max() / DataTypeSize(in.dtype));
    if (!count.ok()) return count.status();
    const int64_t expected = *count * DataTypeSize(in.dtype);
    if (static_cast<int64_t>(in.bytes.size()) != expected) {
      return absl::InvalidArgumentError(
          absl::StrCat("input \"", in.name, "\" ", DataTypeName(in.dtype),
                       ShapeToString(in.shape), " needs ", expected,
                       " bytes; got ", in.bytes.size()));
    }
  }
  return absl::OkStatus();
}

// Whether two batchable requests concatenate: same input count and, per
// input, the same datatype and trailing dims.
bool Concatenable(const InferenceRequest& a, const InferenceRequest& b) {
  if (a.inputs.size() != b.inputs.size()) return false;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    const HostTensor& x = a.inputs[i];
    const HostTensor& y = b.inputs[i];
    if (x.dtype != y.dtype || x.shape.size() != y.shape.size() ||
        !std::equal(x.shape.begin() + 1, x.shape.end(), y.shape.begin() + 1)) {
      return false;
    }
  }
  return true;
}

}  // namespace

void InstancePool::Execute(BackendSession* session,
                           std::vector<std::shared_ptr<Pending>>& batch) {
  // One request's bad tensors must not fail the others that happened to
  // queue with it: a request that cannot be batched fails alone, and the
  // rest run in groups that concatenate (one group in the usual case).
  std::vector<std::vector<Pending*>> groups;
  for (const auto& p : batch) {
    absl::Status batchable = CheckBatchable(p->request, p->rows);
    if (!batchable.ok()) {
      p->result.queue_time = absl::Now() - p->enqueued;
      p->result.outputs = batchable;
      Complete(*p);
      continue;
    }
    auto group = std::find_if(groups.begin(), groups.end(), [&](auto& g) {
      return Concatenable(g[0]->request, p->request);
    });
    if (group == groups.end()) {
      groups.push_back({p.get()});
    } else {
      group->push_back(p.get());
    }
  }
  for (auto& group : groups) ExecuteGroup(session, group);
}

void InstancePool::ExecuteGroup(BackendSession* session,
                                const std::vector<Pending*>& batch) {
  const absl::Time start = absl::Now();
  const size_t num_inputs = batch[0]->request.inputs.size();
  std::vector<HostTensor> inputs;
  absl::Status status;
  for (size_t i = 0; i < num_inputs && status.ok(); ++i) {
    std::vector<const HostTensor*> parts;
    for (const Pending* p : batch) parts.push_back(&p->request.inputs[i]);
    auto joined = ConcatBatch(parts);
    if (!joined.ok())
      status = joined.status();
    else
      inputs.push_back(*std::move(joined));
  }
  absl::StatusOr<std::vector<HostTensor>> outputs =
      status.ok() ? session->Run(inputs) : status;
  const absl::Duration compute = absl::Now() - start;
  int64_t rows = 0;
  std::vector<int64_t> sizes;
  for (const Pending* p : batch) {
    rows += p->rows;
    sizes.push_back(p->rows);
  }
  if (observer_) observer_(rows, compute);

  // Split every output along dim 0 back into the requests.
  std::vector<std::vector<HostTensor>> per_request(batch.size());
  if (outputs.ok()) {
    for (const HostTensor& out : *outputs) {
      auto pieces = SplitBatch(out, sizes);
      if (!pieces.ok()) {
        outputs = pieces.status();
        break;
      }
      for (size_t r = 0; r < batch.size(); ++r) {
        per_request[r].push_back(std::move((*pieces)[r]));
      }
    }
  }
  for (size_t r = 0; r < batch.size(); ++r) {
    Pending& p = *batch[r];
    p.result.queue_time = start - p.enqueued;
    p.result.compute_time = compute;
    p.result.batch_size = rows;
    if (outputs.ok())
      p.result.outputs = std::move(per_request[r]);
    else
      p.result.outputs = outputs.status();
    Complete(p);
  }
}

}  // namespace pruneserve::inference
