#include "tests/testing/http_get.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace pruneserve::testing {

absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("connect to port ", port));
  }
  std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  (void)::write(fd, request.data(), request.size());
  std::string response;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) response.append(buf, n);
  ::close(fd);
  auto split = response.find("\r\n\r\n");
  if (split == std::string::npos) return absl::DataLossError("no HTTP header");
  if (!absl::StrContains(response.substr(0, split), " 200 ")) {
    return absl::UnavailableError(response.substr(0, response.find('\r')));
  }
  return response.substr(split + 4);
}

double MetricValue(const std::string& exposition, const std::string& metric) {
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (!absl::StartsWith(line, metric)) continue;
    absl::string_view rest = line.substr(metric.size());
    if (rest.empty() || rest[0] != ' ') continue;
    double v = 0;
    if (absl::SimpleAtod(rest.substr(1), &v)) return v;
  }
  return -1;
}

}  // namespace pruneserve::testing
