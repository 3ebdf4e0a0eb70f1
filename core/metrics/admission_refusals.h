// The admission-refusal counter shared by the inference and job metrics:
//
//   pruneserve_admission_refusals_total{limit}   counter  requests refused
//       because they exceeded a configured limit (the label is the limit's
//       option/flag name, e.g. max_request_bytes, job_queue_capacity)
//
// InferenceMetrics and JobMetrics each hold one; both register the same
// family (prometheus-cpp merges families of equal name), so the exposition
// has a single series per limit. The registry is owned by the caller and must
// outlive this object.
#ifndef PRUNESERVE_CORE_METRICS_ADMISSION_REFUSALS_H_
#define PRUNESERVE_CORE_METRICS_ADMISSION_REFUSALS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/registry.h"

namespace pruneserve {

// Thread-safe (prometheus-cpp families and counters are).
class AdmissionRefusals {
 public:
  explicit AdmissionRefusals(prometheus::Registry& registry);

  // Counts one refusal by `limit`.
  void Record(absl::string_view limit);
  // Counts `status` when it is a refusal from LimitExceededError
  // (core/util/limit_status.h); any other status is ignored.
  void RecordIfRefusal(const absl::Status& status);

 private:
  prometheus::Family<prometheus::Counter>& refusals_;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_METRICS_ADMISSION_REFUSALS_H_
