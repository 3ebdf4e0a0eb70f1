// Prometheus metrics of the inference path, labelled by model and version.
// The registry is owned by the caller and must outlive this object.
//
//   pruneserve_inference_request_success_total        counter
//   pruneserve_inference_request_failure_total        counter  + reason
//   pruneserve_inference_count_total                  counter  images (rows)
//   pruneserve_inference_exec_count_total             counter  batches run
//   pruneserve_inference_request_duration_seconds     histogram
//   pruneserve_inference_queue_duration_seconds       histogram
//   pruneserve_inference_compute_duration_seconds     histogram (per batch)
//   pruneserve_inference_batch_size                   histogram (per batch)
//   pruneserve_inference_pending_requests             gauge
//   pruneserve_inference_throughput_images_per_second gauge, computed at
//       scrape time over the last `throughput_window` (the paper's fps)
//   pruneserve_admission_refusals_total{limit}       counter  (see
//       admission_refusals.h; requests and loads refused by a limit)
#ifndef PRUNESERVE_CORE_METRICS_INFERENCE_METRICS_H_
#define PRUNESERVE_CORE_METRICS_INFERENCE_METRICS_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/metrics/admission_refusals.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace pruneserve {

class InferenceMetrics;

// Counts images over a sliding window. Thread-safe.
class ThroughputWindow {
 public:
  explicit ThroughputWindow(absl::Duration window) : window_(window) {}
  void Add(int64_t images, absl::Time now);
  // Images per second over the window ending at `now`.
  double Rate(absl::Time now) const;

 private:
  void TrimLocked(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const absl::Duration window_;
  mutable absl::Mutex mu_;
  mutable std::deque<std::pair<absl::Time, int64_t>> events_
      ABSL_GUARDED_BY(mu_);
  mutable int64_t total_ ABSL_GUARDED_BY(mu_) = 0;
};

// A handle on the metric children of one model version. Created by
// InferenceMetrics::ForModel. Handles for the same name:version share one set
// of children (prometheus-cpp's Family::Add returns the existing series for a
// label set), so the children are reference-counted by InferenceMetrics and
// removed only when the last handle goes: reloading a loaded version keeps
// the old model's handle valid until the old model is gone. Thread-safe; the
// InferenceMetrics that made it must outlive it.
class ModelInferenceMetrics {
 public:
  ~ModelInferenceMetrics();
  ModelInferenceMetrics(const ModelInferenceMetrics&) = delete;
  ModelInferenceMetrics& operator=(const ModelInferenceMetrics&) = delete;

  // One finished request: OK or the status that failed it.
  void RecordRequest(const absl::Status& status, absl::Duration total,
                     absl::Duration queue);
  // One executed batch of `rows` images.
  void RecordBatch(int64_t rows, absl::Duration compute);
  void SetPending(int64_t pending);

 private:
  friend class InferenceMetrics;
  struct Series;
  ModelInferenceMetrics(InferenceMetrics* owner, Series* series);

  InferenceMetrics* const owner_;
  // Owned by owner_, alive while this handle is.
  Series* const series_;
};

// Owns the metric families, the per-version children and the throughput
// collector. Register `throughput_collector()` with the exposer next to the
// registry. Thread-safe. Every handle from ForModel must be destroyed before
// this object.
class InferenceMetrics {
 public:
  explicit InferenceMetrics(
      prometheus::Registry& registry,
      absl::Duration throughput_window = absl::Seconds(10));

  ~InferenceMetrics();
  InferenceMetrics(const InferenceMetrics&) = delete;
  InferenceMetrics& operator=(const InferenceMetrics&) = delete;

  // A handle on the children labelled model/version, created with the first
  // handle for that label set and removed with the last. Never fails.
  std::unique_ptr<ModelInferenceMetrics> ForModel(const std::string& model,
                                                  const std::string& version);
  // Counts `status` in pruneserve_admission_refusals_total when it is a
  // refusal from LimitExceededError; other statuses are ignored.
  void RecordRefusal(const absl::Status& status) {
    refusals_.RecordIfRefusal(status);
  }
  // Defined in the .cc, where the collector's type is complete.
  std::shared_ptr<prometheus::Collectable> throughput_collector() const;

 private:
  friend class ModelInferenceMetrics;
  class ThroughputCollector;

  const absl::Duration window_;
  prometheus::Family<prometheus::Counter>& success_;
  prometheus::Family<prometheus::Counter>& failure_;
  prometheus::Family<prometheus::Counter>& images_;
  prometheus::Family<prometheus::Counter>& batches_;
  prometheus::Family<prometheus::Histogram>& request_seconds_;
  prometheus::Family<prometheus::Histogram>& queue_seconds_;
  prometheus::Family<prometheus::Histogram>& compute_seconds_;
  prometheus::Family<prometheus::Histogram>& batch_size_;
  prometheus::Family<prometheus::Gauge>& pending_;
  std::shared_ptr<ThroughputCollector> collector_;
  AdmissionRefusals refusals_;

  // Called by ~ModelInferenceMetrics: drops one reference and removes the
  // children with the last.
  void Release(ModelInferenceMetrics::Series* series);

  absl::Mutex mu_;
  // Live children by (model, version) with their handle counts.
  std::map<std::pair<std::string, std::string>,
           std::unique_ptr<ModelInferenceMetrics::Series>>
      series_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_METRICS_INFERENCE_METRICS_H_
