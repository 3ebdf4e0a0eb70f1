#include "server/transport_security.h"

#include <fstream>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve {
namespace {

TEST(TransportSecurityTest, LoopbackAddresses) {
  for (const char* a :
       {"127.0.0.1:8500", "127.1.2.3:0", "localhost:8500", "[::1]:8500",
        "[::ffff:127.0.0.1]:1", "unix:/tmp/s", "unix-abstract:x"}) {
    EXPECT_TRUE(IsLoopbackAddress(a)) << a;
  }
  for (const char* a : {"0.0.0.0:8500", "[::]:8500", ":8500", "10.0.0.1:8500",
                        "example.com:8500", "[fe80::1]:1", "128.0.0.1:1",
                        "localhost.evil.com:1"}) {
    EXPECT_FALSE(IsLoopbackAddress(a)) << a;
  }
}

TEST(TransportSecurityTest, RefusesIncompleteOrUnsafeConfigurations) {
  testing::TempDir dir;
  TlsOptions tls;
  tls.cert_file = dir.Join("cert.pem");
  auto r = MakeServerCredentials(tls, false, "127.0.0.1:0");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  tls.key_file = dir.Join("key.pem");
  r = MakeServerCredentials(tls, false, "127.0.0.1:0");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "--tls_cert"))
      << r.status();

  TlsOptions ca_only;
  ca_only.client_ca_file = dir.Join("ca.pem");
  EXPECT_EQ(
      MakeServerCredentials(ca_only, false, "127.0.0.1:0").status().code(),
      absl::StatusCode::kInvalidArgument);

  // Tokens without TLS: loopback only.
  EXPECT_TRUE(MakeServerCredentials({}, true, "127.0.0.1:0").ok());
  r = MakeServerCredentials({}, true, "0.0.0.0:8500");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(MakeServerCredentials({}, false, "0.0.0.0:8500").ok());
}

}  // namespace
}  // namespace pruneserve
