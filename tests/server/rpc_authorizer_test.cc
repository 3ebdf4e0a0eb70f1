#include "server/rpc_authorizer.h"

#include <cstdio>
#include <fstream>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve {
namespace {

using auth::Role;
using grpc::StatusCode;

constexpr char kDelete[] = "/pruneserve.v1.ModelRepository/DeleteModel";
constexpr char kList[] = "/pruneserve.v1.ModelRepository/ListModels";

class RpcAuthorizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = dir_.Join("tokens");
    std::ofstream(path) << auth::TokenFileLine("r", Role::kRead, "bob") << "\n"
                        << auth::TokenFileLine("a", Role::kAdmin, "alice")
                        << "\n";
    auto tokens = auth::TokenStore::Create({path});
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    tokens_ = *std::move(tokens);
    sink_ = std::tmpfile();
    AuditLogOptions o;
    o.registry = registry_;
    o.sink = sink_;
    o.now = [] { return absl::FromUnixSeconds(1700000000); };
    audit_ = std::make_unique<AuditLog>(o);
    authorizer_ = std::make_unique<RpcAuthorizer>(tokens_.get(), audit_.get());
  }
  void TearDown() override { std::fclose(sink_); }

  std::string Lines() {
    std::fflush(sink_);
    std::rewind(sink_);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), sink_)) > 0) out.append(buf, n);
    return out;
  }

  double Count(const std::string& rpc, const std::string& outcome) {
    for (const auto& family : registry_->Collect()) {
      if (family.name != "pruneserve_rpc_audit_total") continue;
      for (const auto& m : family.metric) {
        std::map<std::string, std::string> labels;
        for (const auto& l : m.label) labels[l.name] = l.value;
        if (labels["rpc"] == rpc && labels["outcome"] == outcome) {
          return m.counter.value;
        }
      }
    }
    return 0;
  }

  grpc::Status Check(const std::string& method,
                     std::vector<absl::string_view> authorization) {
    return authorizer_->CheckCall(method, authorization, "tls");
  }

  testing::TempDir dir_;
  std::shared_ptr<prometheus::Registry> registry_ =
      std::make_shared<prometheus::Registry>();
  std::unique_ptr<auth::TokenStore> tokens_;
  FILE* sink_ = nullptr;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<RpcAuthorizer> authorizer_;
};

TEST_F(RpcAuthorizerTest, DecidesByTokenAndRole) {
  EXPECT_EQ(Check(kList, {}).error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Check(kList, {"Bearer nope"}).error_code(),
            StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Check(kList, {"Basic r"}).error_code(),
            StatusCode::UNAUTHENTICATED);
  // Two authorization headers: ambiguous, refused.
  EXPECT_EQ(Check(kList, {"Bearer r", "Bearer a"}).error_code(),
            StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Check(kList, {"Bearer r"}).ok());
  EXPECT_TRUE(Check(kList, {"Bearer a"}).ok());
  grpc::Status denied = Check(kDelete, {"Bearer r"});
  EXPECT_EQ(denied.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(denied.error_message(), "needs admin"));
  EXPECT_TRUE(Check(kDelete, {"Bearer a"}).ok());
  // Open methods need nothing.
  EXPECT_TRUE(Check("/grpc.health.v1.Health/Check", {}).ok());
  // Unknown methods need admin.
  EXPECT_EQ(Check("/x.Y/Z", {"Bearer r"}).error_code(),
            StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(Check("/x.Y/Z", {"Bearer a"}).ok());
}

TEST_F(RpcAuthorizerTest, AuditsDenialsAndDestructiveCallsOnly) {
  Check(kList, {"Bearer r"});                   // allowed read: not audited
  Check("/grpc.health.v1.Health/Check", {});    // open: not audited
  Check(kDelete, {"Bearer r"});                 // denied
  Check(kDelete, {"Bearer a"});                 // destructive, allowed
  Check(kList, {});                             // unauthenticated
  Check("/evil.S/M\n injected", {"Bearer r"});  // unknown method, denied
  const std::string lines = Lines();
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 4) << lines;
  EXPECT_TRUE(absl::StrContains(
      lines,
      "pruneserve audit: time=2023-11-14T22:13:20.000Z "
      "outcome=permission_denied rpc=/pruneserve.v1.ModelRepository/"
      "DeleteModel who=bob role=read peer=tls detail=role\n"))
      << lines;
  EXPECT_TRUE(absl::StrContains(
      lines,
      "outcome=allowed rpc=/pruneserve.v1.ModelRepository/DeleteModel "
      "who=alice role=admin peer=tls\n"))
      << lines;
  EXPECT_TRUE(absl::StrContains(lines,
                                "outcome=unauthenticated rpc=/pruneserve.v1."
                                "ModelRepository/ListModels who=- role=-"))
      << lines;
  // Caller-chosen method names are escaped in the line.
  EXPECT_TRUE(absl::StrContains(lines, "rpc=/evil.S/M\\n_injected")) << lines;

  EXPECT_EQ(Count("ModelRepository/DeleteModel", "permission_denied"), 1);
  EXPECT_EQ(Count("ModelRepository/DeleteModel", "allowed"), 1);
  EXPECT_EQ(Count("ModelRepository/ListModels", "unauthenticated"), 1);
  EXPECT_EQ(Count("ModelRepository/ListModels", "allowed"), 0);
  EXPECT_EQ(Count("unknown", "permission_denied"), 1);
}

}  // namespace
}  // namespace pruneserve
