#include "core/metrics/job_metrics.h"

#include "core/spec/job_state.h"

namespace pruneserve {
namespace {

constexpr v1::JobState kStates[] = {
    v1::JOB_STATE_QUEUED, v1::JOB_STATE_RUNNING, v1::JOB_STATE_SUCCEEDED,
    v1::JOB_STATE_FAILED, v1::JOB_STATE_CANCELLED};

}  // namespace

JobMetrics::JobMetrics(prometheus::Registry& registry)
    : jobs_(prometheus::BuildGauge()
                .Name("pruneserve_jobs")
                .Help("Pruning jobs in the database by state")
                .Register(registry)),
      finished_(prometheus::BuildCounter()
                    .Name("pruneserve_jobs_finished_total")
                    .Help("Pruning jobs that ended in this process, by state")
                    .Register(registry)),
      capacity_(prometheus::BuildGauge()
                    .Name("pruneserve_jobs_queue_capacity")
                    .Help("Jobs the queue holds before refusing submissions")
                    .Register(registry)
                    .Add({})),
      progress_(prometheus::BuildGauge()
                    .Name("pruneserve_job_progress")
                    .Help("Completion of a running job, 0..1")
                    .Register(registry)),
      images_per_second_(prometheus::BuildGauge()
                             .Name("pruneserve_job_finetune_images_per_second")
                             .Help("Fine-tuning throughput of a running job")
                             .Register(registry)),
      accuracy_(prometheus::BuildGauge()
                    .Name("pruneserve_job_accuracy")
                    .Help("Latest evaluated top-1 accuracy of a running job")
                    .Register(registry)),
      refusals_(registry) {
  for (v1::JobState s : kStates) {
    jobs_.Add({{"state", spec::JobStateName(s)}}).Set(0);
    if (s != v1::JOB_STATE_QUEUED && s != v1::JOB_STATE_RUNNING) {
      finished_.Add({{"state", spec::JobStateName(s)}});
    }
  }
}

void JobMetrics::SetStateCounts(const std::map<v1::JobState, int64_t>& counts) {
  for (v1::JobState s : kStates) {
    auto it = counts.find(s);
    jobs_.Add({{"state", spec::JobStateName(s)}})
        .Set(it == counts.end() ? 0.0 : static_cast<double>(it->second));
  }
}

void JobMetrics::SetQueueCapacity(int64_t capacity) {
  capacity_.Set(static_cast<double>(capacity));
}

void JobMetrics::RecordFinished(v1::JobState state) {
  finished_.Add({{"state", spec::JobStateName(state)}}).Increment();
}

void JobMetrics::UpdateRunning(const std::string& job_id,
                               const std::string& model, double fraction_done,
                               double images_per_second, double accuracy) {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(job_id);
  if (it == running_.end()) {
    const prometheus::Labels labels{{"job_id", job_id}, {"model", model}};
    it = running_
             .emplace(job_id,
                      JobSeries{&progress_.Add(labels),
                                &images_per_second_.Add(labels), nullptr})
             .first;
  }
  it->second.progress->Set(fraction_done);
  it->second.images_per_second->Set(images_per_second);
  if (accuracy >= 0.0) {
    if (it->second.accuracy == nullptr) {
      it->second.accuracy =
          &accuracy_.Add({{"job_id", job_id}, {"model", model}});
    }
    it->second.accuracy->Set(accuracy);
  }
}

void JobMetrics::RemoveJob(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(job_id);
  if (it == running_.end()) return;
  progress_.Remove(it->second.progress);
  images_per_second_.Remove(it->second.images_per_second);
  if (it->second.accuracy != nullptr) accuracy_.Remove(it->second.accuracy);
  running_.erase(it);
}

}  // namespace pruneserve
