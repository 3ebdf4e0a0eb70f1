// Prometheus metrics of pruning jobs. The registry is owned by the caller
// (the ServerCore) and must outlive this object.
//
//   (state labels are spec::JobStateName values)
//   pruneserve_jobs{state}                            gauge   jobs in the
//       database per state (queued, running, succeeded, failed, cancelled)
//   pruneserve_jobs_finished_total{state}             counter jobs that
//       ended in this process (succeeded, failed, cancelled)
//   pruneserve_jobs_queue_capacity                    gauge   queue bound
//   pruneserve_job_progress{job_id,model}             gauge   0..1
//   pruneserve_job_finetune_images_per_second{job_id,model}   gauge
//   pruneserve_job_accuracy{job_id,model}             gauge   latest top-1
//
//   pruneserve_admission_refusals_total{limit}      counter  (see
//       admission_refusals.h; submissions refused by a limit)
//
// The per-job series exist while the job runs and are removed when it ends,
// so the exposition does not grow with the job history.
#ifndef PRUNESERVE_CORE_METRICS_JOB_METRICS_H_
#define PRUNESERVE_CORE_METRICS_JOB_METRICS_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "core/metrics/admission_refusals.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "pruneserve/v1/pruning_jobs.pb.h"

namespace pruneserve {

// Thread-safe.
class JobMetrics {
 public:
  explicit JobMetrics(prometheus::Registry& registry);

  // Sets pruneserve_jobs to these counts (absent states read 0).
  void SetStateCounts(const std::map<v1::JobState, int64_t>& counts);
  void SetQueueCapacity(int64_t capacity);
  // Counts a job that reached a final state.
  void RecordFinished(v1::JobState state);
  // Counts `status` in pruneserve_admission_refusals_total when it is a
  // refusal from LimitExceededError; other statuses are ignored.
  void RecordRefusal(const absl::Status& status) {
    refusals_.RecordIfRefusal(status);
  }

  // Creates or updates the running job's series. A negative accuracy (not
  // yet evaluated) leaves the accuracy series unset.
  void UpdateRunning(const std::string& job_id, const std::string& model,
                     double fraction_done, double images_per_second,
                     double accuracy);
  // Removes the job's series.
  void RemoveJob(const std::string& job_id);

 private:
  struct JobSeries {
    prometheus::Gauge* progress;
    prometheus::Gauge* images_per_second;
    prometheus::Gauge* accuracy;
  };

  prometheus::Family<prometheus::Gauge>& jobs_;
  prometheus::Family<prometheus::Counter>& finished_;
  prometheus::Gauge& capacity_;
  prometheus::Family<prometheus::Gauge>& progress_;
  prometheus::Family<prometheus::Gauge>& images_per_second_;
  prometheus::Family<prometheus::Gauge>& accuracy_;
  AdmissionRefusals refusals_;

  absl::Mutex mu_;
  std::map<std::string, JobSeries> running_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_METRICS_JOB_METRICS_H_
