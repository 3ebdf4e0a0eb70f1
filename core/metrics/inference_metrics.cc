#include "core/metrics/inference_metrics.h"

#include "absl/strings/ascii.h"
#include "prometheus/metric_family.h"

namespace pruneserve {
namespace {

using Labels = std::map<std::string, std::string>;

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
      0.1,    0.2,   0.5,   1,     2,    5,    10};
  return *b;
}

const prometheus::Histogram::BucketBoundaries& BatchBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      1, 2, 4, 8, 16, 32, 64, 128, 256};
  return *b;
}

}  // namespace

// The children of one label set, shared by every handle on it.
struct ModelInferenceMetrics::Series {
  std::string model, version;
  // Handles alive; guarded by the owner's mu_.
  int handles = 0;
  prometheus::Counter* success = nullptr;
  prometheus::Counter* images = nullptr;
  prometheus::Counter* batches = nullptr;
  prometheus::Histogram* request_seconds = nullptr;
  prometheus::Histogram* queue_seconds = nullptr;
  prometheus::Histogram* compute_seconds = nullptr;
  prometheus::Histogram* batch_size = nullptr;
  prometheus::Gauge* pending = nullptr;
  std::shared_ptr<ThroughputWindow> throughput;
  absl::Mutex mu;
  std::map<std::string, prometheus::Counter*> failures ABSL_GUARDED_BY(mu);
};

void ThroughputWindow::Add(int64_t images, absl::Time now) {
  absl::MutexLock lock(&mu_);
  events_.emplace_back(now, images);
  total_ += images;
  TrimLocked(now);
}

void ThroughputWindow::TrimLocked(absl::Time now) const {
  while (!events_.empty() && events_.front().first <= now - window_) {
    total_ -= events_.front().second;
    events_.pop_front();
  }
}

double ThroughputWindow::Rate(absl::Time now) const {
  absl::MutexLock lock(&mu_);
  TrimLocked(now);
  return static_cast<double>(total_) / absl::ToDoubleSeconds(window_);
}

// Computes the throughput gauge at scrape time from the live windows.
class InferenceMetrics::ThroughputCollector : public prometheus::Collectable {
 public:
  void Add(const Labels& labels, std::weak_ptr<ThroughputWindow> w) {
    absl::MutexLock lock(&mu_);
    windows_.emplace_back(labels, std::move(w));
  }
  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily family;
    family.name = "pruneserve_inference_throughput_images_per_second";
    family.help =
        "Images inferred per second over a sliding window, per model version.";
    family.type = prometheus::MetricType::Gauge;
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    auto it = windows_.begin();
    while (it != windows_.end()) {
      auto window = it->second.lock();
      if (!window) {
        it = windows_.erase(it);
        continue;
      }
      prometheus::ClientMetric metric;
      for (const auto& [k, v] : it->first) metric.label.push_back({k, v});
      metric.gauge.value = window->Rate(now);
      family.metric.push_back(std::move(metric));
      ++it;
    }
    return {family};
  }

 private:
  mutable absl::Mutex mu_;
  mutable std::vector<std::pair<Labels, std::weak_ptr<ThroughputWindow>>>
      windows_ ABSL_GUARDED_BY(mu_);
};

InferenceMetrics::InferenceMetrics(prometheus::Registry& registry,
                                   absl::Duration throughput_window)
    : window_(throughput_window),
      success_(prometheus::BuildCounter()
                   .Name("pruneserve_inference_request_success_total")
                   .Help("Inference requests that succeeded.")
                   .Register(registry)),
      failure_(prometheus::BuildCounter()
                   .Name("pruneserve_inference_request_failure_total")
                   .Help("Inference requests that failed, by reason (the "
                         "lower-case gRPC code).")
                   .Register(registry)),
      images_(prometheus::BuildCounter()
                  .Name("pruneserve_inference_count_total")
                  .Help("Images (batch rows) inferred.")
                  .Register(registry)),
      batches_(prometheus::BuildCounter()
                   .Name("pruneserve_inference_exec_count_total")
                   .Help("Batches executed by model instances.")
                   .Register(registry)),
      request_seconds_(
          prometheus::BuildHistogram()
              .Name("pruneserve_inference_request_duration_seconds")
              .Help("End-to-end time of successful requests "
                    "inside the server.")
              .Register(registry)),
      queue_seconds_(prometheus::BuildHistogram()
                         .Name("pruneserve_inference_queue_duration_seconds")
                         .Help("Time requests waited for a model instance.")
                         .Register(registry)),
      compute_seconds_(
          prometheus::BuildHistogram()
              .Name("pruneserve_inference_compute_duration_seconds")
              .Help("Compute time of one executed batch.")
              .Register(registry)),
      batch_size_(prometheus::BuildHistogram()
                      .Name("pruneserve_inference_batch_size")
                      .Help("Rows in each executed batch.")
                      .Register(registry)),
      pending_(prometheus::BuildGauge()
                   .Name("pruneserve_inference_pending_requests")
                   .Help("Requests queued for a model version.")
                   .Register(registry)),
      collector_(std::make_shared<ThroughputCollector>()),
      refusals_(registry) {}

std::shared_ptr<prometheus::Collectable>
InferenceMetrics::throughput_collector() const {
  return collector_;
}

InferenceMetrics::~InferenceMetrics() = default;

std::unique_ptr<ModelInferenceMetrics> InferenceMetrics::ForModel(
    const std::string& model, const std::string& version) {
  absl::MutexLock lock(&mu_);
  auto& slot = series_[{model, version}];
  if (!slot) {
    slot = std::make_unique<ModelInferenceMetrics::Series>();
    ModelInferenceMetrics::Series& s = *slot;
    s.model = model;
    s.version = version;
    Labels labels{{"model", model}, {"version", version}};
    s.success = &success_.Add(labels);
    s.images = &images_.Add(labels);
    s.batches = &batches_.Add(labels);
    s.request_seconds = &request_seconds_.Add(labels, LatencyBuckets());
    s.queue_seconds = &queue_seconds_.Add(labels, LatencyBuckets());
    s.compute_seconds = &compute_seconds_.Add(labels, LatencyBuckets());
    s.batch_size = &batch_size_.Add(labels, BatchBuckets());
    s.pending = &pending_.Add(labels);
    s.throughput = std::make_shared<ThroughputWindow>(window_);
    collector_->Add(labels, s.throughput);
  }
  ++slot->handles;
  return std::unique_ptr<ModelInferenceMetrics>(
      new ModelInferenceMetrics(this, slot.get()));
}

void InferenceMetrics::Release(ModelInferenceMetrics::Series* series) {
  // Under mu_ so that a ForModel for the same labels either finds this
  // series still registered or creates a fresh one after the removal, never
  // gets series that are about to be removed.
  absl::MutexLock lock(&mu_);
  if (--series->handles > 0) return;
  success_.Remove(series->success);
  images_.Remove(series->images);
  batches_.Remove(series->batches);
  request_seconds_.Remove(series->request_seconds);
  queue_seconds_.Remove(series->queue_seconds);
  compute_seconds_.Remove(series->compute_seconds);
  batch_size_.Remove(series->batch_size);
  pending_.Remove(series->pending);
  {
    absl::MutexLock series_lock(&series->mu);
    for (auto& [reason, counter] : series->failures) failure_.Remove(counter);
  }
  // The collector holds a weak_ptr: the window stops being exported here.
  series_.erase({series->model, series->version});
}

ModelInferenceMetrics::ModelInferenceMetrics(InferenceMetrics* owner,
                                             Series* series)
    : owner_(owner), series_(series) {}

ModelInferenceMetrics::~ModelInferenceMetrics() { owner_->Release(series_); }

void ModelInferenceMetrics::RecordRequest(const absl::Status& status,
                                          absl::Duration total,
                                          absl::Duration queue) {
  if (status.ok()) {
    series_->success->Increment();
    series_->request_seconds->Observe(absl::ToDoubleSeconds(total));
    series_->queue_seconds->Observe(absl::ToDoubleSeconds(queue));
    return;
  }
  std::string reason =
      absl::AsciiStrToLower(absl::StatusCodeToString(status.code()));
  absl::MutexLock lock(&series_->mu);
  auto it = series_->failures.find(reason);
  if (it == series_->failures.end()) {
    it = series_->failures
             .emplace(reason,
                      &owner_->failure_.Add({{"model", series_->model},
                                             {"version", series_->version},
                                             {"reason", reason}}))
             .first;
  }
  it->second->Increment();
}

void ModelInferenceMetrics::RecordBatch(int64_t rows, absl::Duration compute) {
  series_->images->Increment(static_cast<double>(rows));
  series_->batches->Increment();
  series_->compute_seconds->Observe(absl::ToDoubleSeconds(compute));
  series_->batch_size->Observe(static_cast<double>(rows));
  series_->throughput->Add(rows, absl::Now());
}

void ModelInferenceMetrics::SetPending(int64_t pending) {
  series_->pending->Set(static_cast<double>(pending));
}

}  // namespace pruneserve
