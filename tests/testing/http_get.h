// Minimal blocking HTTP/1.0 GET over loopback, for tests that scrape
// /metrics without a client library.
#ifndef PRUNESERVE_TESTS_TESTING_HTTP_GET_H_
#define PRUNESERVE_TESTS_TESTING_HTTP_GET_H_

#include <string>

#include "absl/status/statusor.h"

namespace pruneserve::testing {

// Returns the response body of GET http://127.0.0.1:<port><path>, or an error
// when the connection fails or the status is not 200.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);

// Value of the first sample line of `metric` (exact name plus optional
// labels, e.g. `pruneserve_repository_uploads_total{result="ok"}`) in a
// Prometheus text exposition; -1 when absent.
double MetricValue(const std::string& exposition, const std::string& metric);

}  // namespace pruneserve::testing

#endif  // PRUNESERVE_TESTS_TESTING_HTTP_GET_H_
