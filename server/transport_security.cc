#include "server/transport_security.h"

#include <arpa/inet.h>
#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <netinet/in.h>

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace pruneserve {
namespace {

absl::Status CheckReadable(const std::string& path, absl::string_view flag) {
  std::ifstream in(path);
  std::string first;
  if (!in || !std::getline(in, first)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": cannot read ", path));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsLoopbackAddress(absl::string_view address) {
  if (absl::StartsWith(address, "unix:") ||
      absl::StartsWith(address, "unix-abstract:")) {
    return true;
  }
  absl::string_view host;
  if (absl::StartsWith(address, "[")) {
    const size_t end = address.find(']');
    if (end == absl::string_view::npos) return false;
    host = address.substr(1, end - 1);
  } else {
    const size_t colon = address.rfind(':');
    host =
        colon == absl::string_view::npos ? address : address.substr(0, colon);
  }
  if (host == "localhost") return true;
  const std::string h(host);
  in_addr v4;
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    if (IN6_IS_ADDR_V4MAPPED(&v6)) return v6.s6_addr[12] == 127;
  }
  return false;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsOptions& tls, bool with_auth, absl::string_view listen_address) {
  if (tls.enabled()) {
    if (tls.cert_file.empty() || tls.key_file.empty()) {
      return absl::InvalidArgumentError(
          "TLS needs both --tls_cert and --tls_key");
    }
    if (tls.refresh_seconds <= 0) {
      return absl::InvalidArgumentError("--tls_refresh_seconds must be > 0");
    }
    if (auto s = CheckReadable(tls.cert_file, "--tls_cert"); !s.ok()) return s;
    if (auto s = CheckReadable(tls.key_file, "--tls_key"); !s.ok()) return s;
    if (!tls.client_ca_file.empty()) {
      auto s = CheckReadable(tls.client_ca_file, "--tls_client_ca");
      if (!s.ok()) return s;
    }
    auto provider =
        std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
            tls.key_file, tls.cert_file, tls.client_ca_file,
            static_cast<unsigned int>(tls.refresh_seconds));
    grpc::experimental::TlsServerCredentialsOptions options(provider);
    options.watch_identity_key_cert_pairs();
    if (tls.client_ca_file.empty()) {
      options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    } else {
      options.watch_root_certs();
      options.set_cert_request_type(
          GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    }
    return grpc::experimental::TlsServerCredentials(options);
  }
  if (!tls.client_ca_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_client_ca needs --tls_cert and --tls_key");
  }
  if (!with_auth) return grpc::InsecureServerCredentials();
  if (!IsLoopbackAddress(listen_address)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--auth_tokens_file without TLS works on loopback only: tokens would "
        "cross the network in clear text; add --tls_cert and --tls_key to "
        "serve ",
        listen_address));
  }
  return grpc::experimental::LocalServerCredentials(
      absl::StartsWith(listen_address, "unix") ? UDS : LOCAL_TCP);
}

}  // namespace pruneserve
