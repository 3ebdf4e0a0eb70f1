#include "core/metrics/repository_metrics.h"

#include "absl/strings/ascii.h"

namespace pruneserve {

RepositoryMetrics::RepositoryMetrics(prometheus::Registry& registry)
    : uploads_(prometheus::BuildCounter()
                   .Name("pruneserve_repository_uploads_total")
                   .Help("Model uploads by result (ok or the gRPC-style "
                         "error code that ended them).")
                   .Register(registry)),
      upload_bytes_(prometheus::BuildCounter()
                        .Name("pruneserve_repository_upload_bytes_total")
                        .Help("Bytes of successfully stored uploads.")
                        .Register(registry)
                        .Add({})),
      deletes_(prometheus::BuildCounter()
                   .Name("pruneserve_repository_deletes_total")
                   .Help("Model versions deleted.")
                   .Register(registry)
                   .Add({})),
      models_(prometheus::BuildGauge()
                  .Name("pruneserve_repository_models")
                  .Help("Distinct model names in the repository.")
                  .Register(registry)
                  .Add({})),
      versions_(prometheus::BuildGauge()
                    .Name("pruneserve_repository_model_versions")
                    .Help("Model versions in the repository.")
                    .Register(registry)
                    .Add({})),
      bytes_(prometheus::BuildGauge()
                 .Name("pruneserve_repository_stored_bytes")
                 .Help("Bytes of all stored model versions.")
                 .Register(registry)
                 .Add({})),
      corrupt_versions_(
          prometheus::BuildGauge()
              .Name("pruneserve_repository_corrupt_versions")
              .Help("Model versions whose stored bytes a load, download, "
                    "verify or scrub found missing or not matching their "
                    "sha256; refused until uploaded again or deleted.")
              .Register(registry)
              .Add({})),
      scrubs_(prometheus::BuildCounter()
                  .Name("pruneserve_repository_scrubs_total")
                  .Help("Finished passes re-hashing every stored blob.")
                  .Register(registry)
                  .Add({})),
      validations_(prometheus::BuildCounter()
                       .Name("pruneserve_repository_validations_total")
                       .Help("Runs of the upload checks (for TorchScript the "
                             "sandboxed validator process) by format and "
                             "result (ok or the error code).")
                       .Register(registry)),
      validation_seconds_(
          prometheus::BuildHistogram()
              .Name("pruneserve_repository_validation_seconds")
              .Help("Wall time of one run of the upload checks, by format; "
                    "time spent waiting for a slot is not included.")
              .Register(registry)),
      validations_running_(
          prometheus::BuildGauge()
              .Name("pruneserve_repository_validations_running")
              .Help("Upload checks running now (at most "
                    "--max_concurrent_validations).")
              .Register(registry)
              .Add({})),
      refusals_(registry) {
  // Pre-create the common results so dashboards see zeros, not gaps.
  for (const char* r : {"ok", "invalid_argument", "data_loss",
                        "resource_exhausted", "cancelled"}) {
    uploads_.Add({{"result", r}});
  }
}

std::string RepositoryMetrics::ResultLabel(const absl::Status& status) {
  if (status.ok()) return "ok";
  return absl::AsciiStrToLower(absl::StatusCodeToString(status.code()));
}

void RepositoryMetrics::RecordUpload(const absl::Status& result,
                                     int64_t bytes) {
  uploads_.Add({{"result", ResultLabel(result)}}).Increment();
  if (result.ok()) upload_bytes_.Increment(static_cast<double>(bytes));
}

void RepositoryMetrics::RecordDeletes(int64_t versions) {
  deletes_.Increment(static_cast<double>(versions));
}

void RepositoryMetrics::SetTotals(int64_t models, int64_t versions,
                                  int64_t bytes) {
  models_.Set(static_cast<double>(models));
  versions_.Set(static_cast<double>(versions));
  bytes_.Set(static_cast<double>(bytes));
}

void RepositoryMetrics::SetCorruptVersions(int64_t versions) {
  corrupt_versions_.Set(static_cast<double>(versions));
}

void RepositoryMetrics::RecordScrub() { scrubs_.Increment(); }

void RepositoryMetrics::RecordValidation(absl::string_view format,
                                         const absl::Status& result,
                                         double seconds) {
  static const auto* const kBuckets =
      new prometheus::Histogram::BucketBoundaries{0.05, 0.1, 0.25, 0.5, 1,  2,
                                                  5,    10,  30,   60,  120};
  const std::string format_label(format);
  validations_.Add({{"format", format_label}, {"result", ResultLabel(result)}})
      .Increment();
  validation_seconds_.Add({{"format", format_label}}, *kBuckets)
      .Observe(seconds);
}

void RepositoryMetrics::SetValidationsRunning(int running) {
  validations_running_.Set(static_cast<double>(running));
}

void RepositoryMetrics::RecordValidationSlotRefusal() {
  refusals_.Record("max_concurrent_validations");
}

}  // namespace pruneserve
