// The load generator behind `prunectl bench`: C client threads send
// inference requests back to back for a request count or a duration and
// collect per-request latencies.
#ifndef PRUNESERVE_CLIENT_LOAD_GENERATOR_H_
#define PRUNESERVE_CLIENT_LOAD_GENERATOR_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace pruneserve::client {

struct LoadGeneratorOptions {
  // Client threads, each with one request in flight.
  int concurrency = 1;
  // Stop after this many requests in total (0 = no limit).
  int64_t requests = 0;
  // Stop after this long (zero = no limit). One of the two must be set.
  absl::Duration duration = absl::ZeroDuration();
  // Images per request (for images/s).
  int64_t batch = 1;
};

struct LoadReport {
  int64_t ok = 0;
  int64_t failed = 0;
  std::string first_error;
  absl::Duration wall;
  // Latencies of successful requests, sorted ascending.
  std::vector<absl::Duration> latencies;

  double requests_per_second() const;
  double images_per_second(int64_t batch) const;
  // q in [0, 1]; zero when nothing succeeded.
  absl::Duration Percentile(double q) const;
};

// Runs `send` (one blocking request; thread-safe) under `options`. Blocks
// until done.
LoadReport RunLoad(const LoadGeneratorOptions& options,
                   const std::function<absl::Status()>& send);

}  // namespace pruneserve::client

#endif  // PRUNESERVE_CLIENT_LOAD_GENERATOR_H_
