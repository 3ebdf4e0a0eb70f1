// Standard Prometheus process metrics read from /proc/self, since
// prometheus-cpp does not ship a process collector:
//   process_cpu_seconds_total, process_resident_memory_bytes,
//   process_virtual_memory_bytes, process_open_fds, process_max_fds,
//   process_start_time_seconds, process_threads.
#ifndef PRUNESERVE_CORE_METRICS_PROCESS_METRICS_COLLECTOR_H_
#define PRUNESERVE_CORE_METRICS_PROCESS_METRICS_COLLECTOR_H_

#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace pruneserve {

// Thread-safe: Collect() reads /proc afresh on every scrape and keeps no state.
class ProcessMetricsCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

// Resident set size of this process in bytes, from /proc/self/statm; 0 when
// unavailable. Used by tests and benchmarks that watch for leaks.
long long CurrentRssBytes();

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_METRICS_PROCESS_METRICS_COLLECTOR_H_
