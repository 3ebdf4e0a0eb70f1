#include <map>

#include "core/metrics/inference_metrics.h"
#include "core/metrics/job_metrics.h"
#include "core/metrics/process_metrics_collector.h"
#include "core/metrics/repository_metrics.h"
#include "core/util/limit_status.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace pruneserve {
namespace {

TEST(ProcessMetricsCollectorTest, ReportsThisProcess) {
  std::map<std::string, double> values;
  for (const auto& family : ProcessMetricsCollector().Collect()) {
    ASSERT_EQ(family.metric.size(), 1u);
    values[family.name] =
        family.metric[0].counter.value + family.metric[0].gauge.value;
  }
  EXPECT_GT(values["process_resident_memory_bytes"], 1 << 20);
  EXPECT_GE(values["process_virtual_memory_bytes"],
            values["process_resident_memory_bytes"]);
  EXPECT_GE(values["process_open_fds"], 3);
  EXPECT_GE(values["process_threads"], 1);
  EXPECT_GT(values["process_start_time_seconds"], 1.6e9);
  EXPECT_GE(values["process_cpu_seconds_total"], 0);
  EXPECT_NEAR(CurrentRssBytes(), values["process_resident_memory_bytes"],
              64 << 20);
}

TEST(RepositoryMetricsTest, LabelsUploadsByResult) {
  prometheus::Registry registry;
  RepositoryMetrics metrics(registry);
  metrics.RecordUpload(absl::OkStatus(), 100);
  metrics.RecordUpload(absl::DataLossError("x"), 5);
  metrics.RecordUpload(absl::DataLossError("y"), 5);
  metrics.SetTotals(1, 2, 300);
  std::map<std::string, double> uploads;
  double bytes = -1, versions = -1;
  for (const auto& family : registry.Collect()) {
    if (family.name == "pruneserve_repository_uploads_total") {
      for (const auto& m : family.metric) {
        uploads[m.label.at(0).value] = m.counter.value;
      }
    } else if (family.name == "pruneserve_repository_upload_bytes_total") {
      bytes = family.metric[0].counter.value;
    } else if (family.name == "pruneserve_repository_model_versions") {
      versions = family.metric[0].gauge.value;
    }
  }
  EXPECT_EQ(uploads["ok"], 1);
  EXPECT_EQ(uploads["data_loss"], 2);
  EXPECT_EQ(uploads["invalid_argument"], 0);  // pre-created
  EXPECT_EQ(bytes, 100);                      // failures don't count bytes
  EXPECT_EQ(versions, 2);
  EXPECT_EQ(RepositoryMetrics::ResultLabel(absl::ResourceExhaustedError("")),
            "resource_exhausted");
}

// Value of `family` for model/version (and reason when set); -1 when the
// series is not exported.
double SeriesValue(prometheus::Registry& registry, const std::string& family,
                   const std::string& version, const std::string& reason = "") {
  for (const auto& f : registry.Collect()) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& l : m.label) labels[l.name] = l.value;
      if (labels["model"] != "m" || labels["version"] != version) continue;
      if (!reason.empty() && labels["reason"] != reason) continue;
      return m.counter.value + m.gauge.value;
    }
  }
  return -1;
}

// A reload of a loaded version makes a second handle for the same label set
// before the first goes (prometheus-cpp hands both the same children).
// Dropping the old handle must leave the new one's children registered and
// writable; they go with the last handle.
TEST(InferenceMetricsTest, SecondHandleForSameVersionSurvivesTheFirst) {
  prometheus::Registry registry;
  InferenceMetrics metrics(registry);
  auto old_model = metrics.ForModel("m", "1");
  auto other = metrics.ForModel("m", "2");
  old_model->RecordBatch(2, absl::Milliseconds(1));
  old_model->RecordRequest(absl::InvalidArgumentError("x"),
                           absl::ZeroDuration(), absl::ZeroDuration());
  auto new_model = metrics.ForModel("m", "1");
  old_model.reset();

  const std::string images = "pruneserve_inference_count_total";
  const std::string failures = "pruneserve_inference_request_failure_total";
  EXPECT_EQ(SeriesValue(registry, images, "1"), 2);
  EXPECT_EQ(SeriesValue(registry, failures, "1", "invalid_argument"), 1);
  new_model->RecordBatch(3, absl::Milliseconds(1));
  new_model->RecordRequest(absl::InvalidArgumentError("y"),
                           absl::ZeroDuration(), absl::ZeroDuration());
  EXPECT_EQ(SeriesValue(registry, images, "1"), 5);
  EXPECT_EQ(SeriesValue(registry, failures, "1", "invalid_argument"), 2);
  // One throughput gauge per label set, not one per handle.
  int throughput_series = 0;
  for (const auto& f : metrics.throughput_collector()->Collect()) {
    throughput_series += static_cast<int>(f.metric.size());
  }
  EXPECT_EQ(throughput_series, 2);

  new_model.reset();
  EXPECT_EQ(SeriesValue(registry, images, "1"), -1);
  EXPECT_EQ(SeriesValue(registry, failures, "1", "invalid_argument"), -1);
  EXPECT_EQ(SeriesValue(registry, images, "2"), 0);  // untouched

  // A later load starts from fresh children.
  auto again = metrics.ForModel("m", "1");
  EXPECT_EQ(SeriesValue(registry, images, "1"), 0);
}

TEST(AdmissionRefusalsTest, InferenceAndJobMetricsCountRefusalsByLimit) {
  prometheus::Registry registry;
  InferenceMetrics inference(registry);
  JobMetrics jobs(registry);
  const absl::Status bytes = LimitExceededError(
      absl::StatusCode::kResourceExhausted, "max_request_bytes", "too big");
  EXPECT_EQ(bytes.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(bytes.message(), "too big");
  EXPECT_EQ(ExceededLimit(bytes), "max_request_bytes");
  EXPECT_EQ(ExceededLimit(absl::InvalidArgumentError("x")), std::nullopt);
  EXPECT_EQ(ExceededLimit(absl::OkStatus()), std::nullopt);

  inference.RecordRefusal(bytes);
  inference.RecordRefusal(bytes);
  inference.RecordRefusal(absl::InvalidArgumentError("not a limit"));
  inference.RecordRefusal(absl::OkStatus());
  jobs.RecordRefusal(LimitExceededError(absl::StatusCode::kInvalidArgument,
                                        "job_max_input_dim", "dim"));
  std::map<std::string, double> refusals;
  int families = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != "pruneserve_admission_refusals_total") continue;
    ++families;
    for (const auto& m : family.metric) {
      ASSERT_EQ(m.label.size(), 1u);
      EXPECT_EQ(m.label[0].name, "limit");
      refusals[m.label[0].value] = m.counter.value;
    }
  }
  EXPECT_EQ(families, 1);  // one family shared by both classes
  EXPECT_EQ(refusals.size(), 2u);
  EXPECT_EQ(refusals["max_request_bytes"], 2);
  EXPECT_EQ(refusals["job_max_input_dim"], 1);
}

}  // namespace
}  // namespace pruneserve
