#include <map>

#include "core/metrics/process_metrics_collector.h"
#include "core/metrics/repository_metrics.h"
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

}  // namespace
}  // namespace pruneserve
