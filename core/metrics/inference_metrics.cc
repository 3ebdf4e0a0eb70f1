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
      collector_(std::make_shared<ThroughputCollector>()) {}

std::shared_ptr<prometheus::Collectable>
InferenceMetrics::throughput_collector() const {
  return collector_;
}

std::unique_ptr<ModelInferenceMetrics> InferenceMetrics::ForModel(
    const std::string& model, const std::string& version) {
  return std::unique_ptr<ModelInferenceMetrics>(
      new ModelInferenceMetrics(this, model, version));
}

ModelInferenceMetrics::ModelInferenceMetrics(InferenceMetrics* owner,
                                             std::string model,
                                             std::string version)
    : owner_(owner), model_(std::move(model)), version_(std::move(version)) {
  Labels labels{{"model", model_}, {"version", version_}};
  success_ = &owner_->success_.Add(labels);
  images_ = &owner_->images_.Add(labels);
  batches_ = &owner_->batches_.Add(labels);
  request_seconds_ = &owner_->request_seconds_.Add(labels, LatencyBuckets());
  queue_seconds_ = &owner_->queue_seconds_.Add(labels, LatencyBuckets());
  compute_seconds_ = &owner_->compute_seconds_.Add(labels, LatencyBuckets());
  batch_size_ = &owner_->batch_size_.Add(labels, BatchBuckets());
  pending_ = &owner_->pending_.Add(labels);
  throughput_ = std::make_shared<ThroughputWindow>(owner_->window_);
  owner_->collector_->Add(labels, throughput_);
}

ModelInferenceMetrics::~ModelInferenceMetrics() {
  owner_->success_.Remove(success_);
  owner_->images_.Remove(images_);
  owner_->batches_.Remove(batches_);
  owner_->request_seconds_.Remove(request_seconds_);
  owner_->queue_seconds_.Remove(queue_seconds_);
  owner_->compute_seconds_.Remove(compute_seconds_);
  owner_->batch_size_.Remove(batch_size_);
  owner_->pending_.Remove(pending_);
  absl::MutexLock lock(&mu_);
  for (auto& [reason, counter] : failures_) owner_->failure_.Remove(counter);
}

void ModelInferenceMetrics::RecordRequest(const absl::Status& status,
                                          absl::Duration total,
                                          absl::Duration queue) {
  if (status.ok()) {
    success_->Increment();
    request_seconds_->Observe(absl::ToDoubleSeconds(total));
    queue_seconds_->Observe(absl::ToDoubleSeconds(queue));
    return;
  }
  std::string reason =
      absl::AsciiStrToLower(absl::StatusCodeToString(status.code()));
  absl::MutexLock lock(&mu_);
  auto it = failures_.find(reason);
  if (it == failures_.end()) {
    it = failures_
             .emplace(reason, &owner_->failure_.Add({{"model", model_},
                                                     {"version", version_},
                                                     {"reason", reason}}))
             .first;
  }
  it->second->Increment();
}

void ModelInferenceMetrics::RecordBatch(int64_t rows, absl::Duration compute) {
  images_->Increment(static_cast<double>(rows));
  batches_->Increment();
  compute_seconds_->Observe(absl::ToDoubleSeconds(compute));
  batch_size_->Observe(static_cast<double>(rows));
  throughput_->Add(rows, absl::Now());
}

void ModelInferenceMetrics::SetPending(int64_t pending) {
  pending_->Set(static_cast<double>(pending));
}

}  // namespace pruneserve
