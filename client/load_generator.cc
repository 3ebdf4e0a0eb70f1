#include "client/load_generator.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace pruneserve::client {

double LoadReport::requests_per_second() const {
  double s = absl::ToDoubleSeconds(wall);
  return s > 0 ? static_cast<double>(ok) / s : 0;
}

double LoadReport::images_per_second(int64_t batch) const {
  return requests_per_second() * static_cast<double>(batch);
}

absl::Duration LoadReport::Percentile(double q) const {
  if (latencies.empty()) return absl::ZeroDuration();
  size_t index =
      static_cast<size_t>(std::ceil(q * static_cast<double>(latencies.size())));
  index = std::min(latencies.size() - 1, index == 0 ? 0 : index - 1);
  return latencies[index];
}

LoadReport RunLoad(const LoadGeneratorOptions& options,
                   const std::function<absl::Status()>& send) {
  std::atomic<int64_t> issued{0};
  const absl::Time start = absl::Now();
  const absl::Time stop_at = options.duration > absl::ZeroDuration()
                                 ? start + options.duration
                                 : absl::InfiniteFuture();
  absl::Mutex mu;
  LoadReport report;
  auto worker = [&] {
    std::vector<absl::Duration> mine;
    int64_t ok = 0, failed = 0;
    std::string error;
    while (absl::Now() < stop_at) {
      if (options.requests > 0 && issued.fetch_add(1) >= options.requests)
        break;
      absl::Time t0 = absl::Now();
      absl::Status s = send();
      if (s.ok()) {
        ++ok;
        mine.push_back(absl::Now() - t0);
      } else {
        ++failed;
        if (error.empty()) error = s.ToString();
      }
    }
    absl::MutexLock lock(&mu);
    report.ok += ok;
    report.failed += failed;
    if (report.first_error.empty()) report.first_error = error;
    report.latencies.insert(report.latencies.end(), mine.begin(), mine.end());
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < std::max(1, options.concurrency); ++i) {
    threads.emplace_back(worker);
  }
  for (auto& t : threads) t.join();
  report.wall = absl::Now() - start;
  std::sort(report.latencies.begin(), report.latencies.end());
  return report;
}

}  // namespace pruneserve::client
