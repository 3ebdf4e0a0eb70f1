// Prometheus metrics of the model repository. The registry is owned by the
// caller (the ServerCore) and must outlive this object.
//
//   pruneserve_repository_models              gauge   distinct model names
//   pruneserve_repository_model_versions      gauge   stored versions
//   pruneserve_repository_stored_bytes        gauge   bytes of the versions
//   pruneserve_repository_uploads_total       counter by result
//   pruneserve_repository_upload_bytes_total  counter bytes of stored uploads
//   pruneserve_repository_deletes_total       counter deleted versions
//   pruneserve_repository_corrupt_versions    gauge   versions marked corrupt
//   pruneserve_repository_scrubs_total        counter finished scrubs
//   pruneserve_repository_validations_total   counter by format and result
//   pruneserve_repository_validation_seconds  histogram by format (waiting
//                                             for a slot not included)
//   pruneserve_repository_validations_running gauge   checks in progress
//   pruneserve_admission_refusals_total{limit="max_concurrent_validations"}
//                                             checks that found no slot
#ifndef PRUNESERVE_CORE_METRICS_REPOSITORY_METRICS_H_
#define PRUNESERVE_CORE_METRICS_REPOSITORY_METRICS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/metrics/admission_refusals.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace pruneserve {

// Thread-safe (prometheus-cpp metrics are atomic).
class RepositoryMetrics {
 public:
  explicit RepositoryMetrics(prometheus::Registry& registry);

  // Counts one finished upload; `result` OK or the error it failed with.
  void RecordUpload(const absl::Status& result, int64_t bytes);
  void RecordDeletes(int64_t versions);
  void SetTotals(int64_t models, int64_t versions, int64_t bytes);
  // Versions whose stored bytes a check found missing or altered.
  void SetCorruptVersions(int64_t versions);
  // Counts one finished pass of the repository scrub.
  void RecordScrub();
  // Counts one run of a format's upload checks ("torchscript", "xmodel")
  // that ended with `result` after `seconds`.
  void RecordValidation(absl::string_view format, const absl::Status& result,
                        double seconds);
  // Checks running now.
  void SetValidationsRunning(int running);
  // Counts a check refused because every slot stayed busy.
  void RecordValidationSlotRefusal();

  // Label value for a status: "ok" or the lower-case code name.
  static std::string ResultLabel(const absl::Status& status);

 private:
  prometheus::Family<prometheus::Counter>& uploads_;
  prometheus::Counter& upload_bytes_;
  prometheus::Counter& deletes_;
  prometheus::Gauge& models_;
  prometheus::Gauge& versions_;
  prometheus::Gauge& bytes_;
  prometheus::Gauge& corrupt_versions_;
  prometheus::Counter& scrubs_;
  prometheus::Family<prometheus::Counter>& validations_;
  prometheus::Family<prometheus::Histogram>& validation_seconds_;
  prometheus::Gauge& validations_running_;
  AdmissionRefusals refusals_;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_METRICS_REPOSITORY_METRICS_H_
