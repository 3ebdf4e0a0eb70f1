// Security end to end over the real pruneserve binary: TLS and mutual TLS
// with certificates made by the openssl CLI at test time, bearer tokens with
// roles on every RPC of every service, the audit log and its metric, tokens
// reloaded on SIGHUP, job ownership, and the refusal to serve a non-loopback
// address unprotected.
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/channel.h"
#include "client/repository_client.h"
#include "core/auth/token_file.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "pruneserve/v1/datasets.grpc.pb.h"
#include "pruneserve/v1/model_repository.grpc.pb.h"
#include "pruneserve/v1/pruning_jobs.grpc.pb.h"
#include "tests/testing/http_get.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tiny_models.h"

namespace pruneserve {
namespace {

using auth::Role;
using grpc::StatusCode;
using testing::ServerProcess;

constexpr char kFashion[] = "/usr/share/datasets/fashion-mnist";

// Tokens of the role table, one per role.
constexpr char kInferToken[] = "infer-secret";
constexpr char kReadToken[] = "read-secret";
constexpr char kAdminToken[] = "admin-secret";

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs a shell command; fails the test on a non-zero exit.
void Sh(const std::string& command) {
  ASSERT_EQ(std::system(("(" + command + ") >/dev/null 2>&1").c_str()), 0)
      << command;
}

// A CA, a server certificate for 127.0.0.1/localhost and a client
// certificate signed by it, plus a second CA with its own client
// certificate that the server must not trust. EC keys: quick to make.
struct Pki {
  std::string dir, ca, server_cert, server_key, client_cert, client_key,
      other_ca, other_client_cert, other_client_key, other_server_cert,
      other_server_key;
};

void MakePki(const std::string& dir, Pki* pki) {
  const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1";
  auto ca = [&](const std::string& name) {
    Sh(absl::StrCat("cd ", dir, " && openssl req -x509 ", ec,
                    " -nodes -days 2 -subj /CN=", name, " -keyout ", name,
                    ".key -out ", name, ".pem"));
  };
  auto leaf = [&](const std::string& name, const std::string& ca_name,
                  const std::string& ext) {
    WriteFile(absl::StrCat(dir, "/", name, ".ext"), ext + "\n");
    Sh(absl::StrCat("cd ", dir, " && openssl req ", ec,
                    " -nodes -subj /CN=", name, " -keyout ", name, ".key -out ",
                    name, ".csr && openssl x509 -req -in ", name, ".csr -CA ",
                    ca_name, ".pem -CAkey ", ca_name,
                    ".key -CAcreateserial -days 2 -out ", name,
                    ".pem -extfile ", name, ".ext"));
  };
  ca("ca");
  ca("other-ca");
  leaf("server", "ca",
       "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
       "extendedKeyUsage=serverAuth");
  leaf("client", "ca", "extendedKeyUsage=clientAuth");
  leaf("other-client", "other-ca", "extendedKeyUsage=clientAuth");
  leaf("other-server", "other-ca",
       "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
       "extendedKeyUsage=serverAuth");
  auto p = [&](const std::string& f) { return absl::StrCat(dir, "/", f); };
  *pki = Pki{dir,
             p("ca.pem"),
             p("server.pem"),
             p("server.key"),
             p("client.pem"),
             p("client.key"),
             p("other-ca.pem"),
             p("other-client.pem"),
             p("other-client.key"),
             p("other-server.pem"),
             p("other-server.key")};
}

class SecurityE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_dir_ = new testing::TempDir();
    pki_ = new Pki();
    MakePki(pki_dir_->path(), pki_);
  }
  static void TearDownTestSuite() {
    delete pki_;
    delete pki_dir_;
  }

  std::vector<std::string> TlsFlags(bool mutual = false) const {
    std::vector<std::string> f = {"--tls_cert=" + pki_->server_cert,
                                  "--tls_key=" + pki_->server_key};
    if (mutual) f.push_back("--tls_client_ca=" + pki_->ca);
    return f;
  }

  // The standard tokens file: one token per role.
  std::string WriteTokens() {
    const std::string path = dir_.Join("tokens");
    WriteFile(
        path,
        absl::StrCat(
            "# test tokens\n",
            auth::TokenFileLine(kInferToken, Role::kInfer, "edge"), "\n",
            auth::TokenFileLine(kReadToken, Role::kRead, "bob"), "\n",
            auth::TokenFileLine(kAdminToken, Role::kAdmin, "alice"), "\n"));
    return path;
  }

  std::shared_ptr<grpc::Channel> Channel(const ServerProcess& server,
                                         client::ChannelOptions options) {
    options.address = server.grpc_address();
    auto channel = client::MakeChannel(options);
    EXPECT_TRUE(channel.ok()) << channel.status();
    return channel.ok() ? *channel : nullptr;
  }
  std::shared_ptr<grpc::Channel> TlsChannel(const ServerProcess& server,
                                            const std::string& token = "") {
    client::ChannelOptions o;
    o.tls_ca_file = pki_->ca;
    o.token = token;
    return Channel(server, o);
  }

  // ListModels on `channel`: its status code.
  static StatusCode ListCode(const std::shared_ptr<grpc::Channel>& channel) {
    client::RepositoryClientOptions o;
    o.rpc_timeout = absl::Seconds(20);
    client::RepositoryClient repo(channel, o);
    return static_cast<StatusCode>(repo.List("").status().code());
  }

  // Waits until the server's stderr contains `text` (20 s at most).
  static bool WaitForStderr(const ServerProcess& server,
                            const std::string& text) {
    for (int i = 0; i < 200; ++i) {
      if (absl::StrContains(ReadFile(server.stderr_path()), text)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  static testing::TempDir* pki_dir_;
  static Pki* pki_;
  testing::TempDir dir_;
};

testing::TempDir* SecurityE2eTest::pki_dir_ = nullptr;
Pki* SecurityE2eTest::pki_ = nullptr;

TEST_F(SecurityE2eTest, TlsServerServesTlsClientsOnly) {
  auto server = ServerProcess::Start(dir_.Join("data"), TlsFlags());
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(ListCode(TlsChannel(**server)), StatusCode::OK);

  EXPECT_EQ(ListCode(Channel(**server, {})), StatusCode::UNAVAILABLE);
  client::ChannelOptions wrong_ca;
  wrong_ca.tls_ca_file = pki_->other_ca;
  EXPECT_EQ(ListCode(Channel(**server, wrong_ca)), StatusCode::UNAVAILABLE);

  testing::CommandResult r =
      testing::RunPrunectl(absl::StrCat("--server ", (*server)->grpc_address(),
                                        " --tls-ca ", pki_->ca, " model list"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = testing::RunPrunectl(
      absl::StrCat("--server ", (*server)->grpc_address(), " model list"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "UNAVAILABLE")) << r.output;
}

TEST_F(SecurityE2eTest, MutualTlsNeedsAClientCertificateFromTheCa) {
  auto server = ServerProcess::Start(dir_.Join("data"), TlsFlags(true));
  ASSERT_TRUE(server.ok()) << server.status();
  client::ChannelOptions mtls;
  mtls.tls_ca_file = pki_->ca;
  mtls.tls_cert_file = pki_->client_cert;
  mtls.tls_key_file = pki_->client_key;
  EXPECT_EQ(ListCode(Channel(**server, mtls)), StatusCode::OK);

  // TLS without a client certificate, one from another CA, plaintext, and
  // a client that does not trust the server's CA.
  EXPECT_EQ(ListCode(TlsChannel(**server)), StatusCode::UNAVAILABLE);
  client::ChannelOptions foreign = mtls;
  foreign.tls_cert_file = pki_->other_client_cert;
  foreign.tls_key_file = pki_->other_client_key;
  EXPECT_EQ(ListCode(Channel(**server, foreign)), StatusCode::UNAVAILABLE);
  EXPECT_EQ(ListCode(Channel(**server, {})), StatusCode::UNAVAILABLE);
  client::ChannelOptions wrong_ca = mtls;
  wrong_ca.tls_ca_file = pki_->other_ca;
  EXPECT_EQ(ListCode(Channel(**server, wrong_ca)), StatusCode::UNAVAILABLE);

  testing::CommandResult r = testing::RunPrunectl(
      absl::StrCat("--server ", (*server)->grpc_address(), " --tls-ca ",
                   pki_->ca, " --tls-cert ", pki_->client_cert, " --tls-key ",
                   pki_->client_key, " model list"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(SecurityE2eTest,
       ReplacedCertificateServesNewHandshakesKeepsConnections) {
  // The server reads its own copies, replaced below by rename.
  const std::string cert = dir_.Join("server.pem");
  const std::string key = dir_.Join("server.key");
  Sh(absl::StrCat("cp ", pki_->server_cert, " ", cert, " && cp ",
                  pki_->server_key, " ", key));
  auto server = ServerProcess::Start(
      dir_.Join("data"),
      {"--tls_cert=" + cert, "--tls_key=" + key, "--tls_refresh_seconds=1"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto old_channel = TlsChannel(**server);
  ASSERT_EQ(ListCode(old_channel), StatusCode::OK);

  // A certificate from another CA: new handshakes present it.
  Sh(absl::StrCat("cp ", pki_->other_server_cert, " ", cert, ".new && cp ",
                  pki_->other_server_key, " ", key, ".new && mv ", key, ".new ",
                  key, " && mv ", cert, ".new ", cert));
  client::ChannelOptions trusts_new;
  trusts_new.tls_ca_file = pki_->other_ca;
  StatusCode code = StatusCode::UNKNOWN;
  for (int i = 0; i < 100 && code != StatusCode::OK; ++i) {
    code = ListCode(Channel(**server, trusts_new));
    if (code != StatusCode::OK) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  EXPECT_EQ(code, StatusCode::OK);
  EXPECT_EQ(ListCode(TlsChannel(**server)), StatusCode::UNAVAILABLE);
  // The connection made under the old certificate is still open and used:
  // a new handshake on this channel, which trusts only the first CA, would
  // fail.
  EXPECT_EQ(ListCode(old_channel), StatusCode::OK);
  EXPECT_EQ(old_channel->GetState(false), GRPC_CHANNEL_READY);
}

// One RPC of the table: calls it on `channel` against `target` (a model or
// job name) and returns the status code.
using RpcCall = std::function<grpc::Status(grpc::Channel*, const std::string&)>;

void Deadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(20));
}

struct RpcCase {
  std::string method;
  // nullopt = open.
  std::optional<Role> role;
  // The code an allowed caller gets (the targets do not exist).
  StatusCode allowed;
  RpcCall call;
};

std::vector<RpcCase> AllRpcs() {
  namespace inf = ::inference;
  using v1::ModelRepository;
  using v1::PruningJobs;
  using HealthStub = grpc::health::v1::Health;
  std::vector<RpcCase> rpcs;
  auto add = [&](std::string method, std::optional<Role> role,
                 StatusCode allowed, RpcCall call) {
    rpcs.push_back({std::move(method), role, allowed, std::move(call)});
  };
  auto ch = [](grpc::Channel* c) {
    return std::shared_ptr<grpc::Channel>(c, [](grpc::Channel*) {});
  };

  // grpc.health.v1.Health
  add("Health/Check", std::nullopt, StatusCode::OK,
      [ch](grpc::Channel* c, const std::string&) {
        grpc::ClientContext ctx;
        Deadline(&ctx);
        grpc::health::v1::HealthCheckRequest q;
        grpc::health::v1::HealthCheckResponse r;
        return HealthStub::NewStub(ch(c))->Check(&ctx, q, &r);
      });
  add("Health/Watch", std::nullopt, StatusCode::OK,
      [ch](grpc::Channel* c, const std::string&) {
        grpc::ClientContext ctx;
        Deadline(&ctx);
        grpc::health::v1::HealthCheckRequest q;
        grpc::health::v1::HealthCheckResponse r;
        auto reader = HealthStub::NewStub(ch(c))->Watch(&ctx, q);
        if (reader->Read(&r)) {
          ctx.TryCancel();
          reader->Finish();
          return grpc::Status::OK;
        }
        return reader->Finish();
      });

  // inference.GRPCInferenceService
  using Kserve = inf::GRPCInferenceService;
// A unary method of `STUB` called with a request FILL sets up (which may
// use `target`); the row is labelled LABEL/METHOD.
#define UNARY(LABEL, STUB, REQ, RESP, METHOD, ROLE, ALLOWED, FILL) \
  add(LABEL "/" #METHOD, ROLE, ALLOWED,                            \
      [ch](grpc::Channel* c, const std::string& target) {          \
        grpc::ClientContext ctx;                                   \
        Deadline(&ctx);                                            \
        REQ q;                                                     \
        RESP r;                                                    \
        FILL;                                                      \
        (void)target;                                              \
        return STUB::NewStub(ch(c))->METHOD(&ctx, q, &r);          \
      })
#define KSERVE_UNARY(NAME, ROLE, ALLOWED, FILL)             \
  UNARY("GRPCInferenceService", Kserve, inf::NAME##Request, \
        inf::NAME##Response, NAME, ROLE, ALLOWED, FILL)
  KSERVE_UNARY(ServerLive, std::nullopt, StatusCode::OK, {});
  KSERVE_UNARY(ServerReady, Role::kInfer, StatusCode::OK, {});
  KSERVE_UNARY(ModelReady, Role::kInfer, StatusCode::OK, q.set_name(target));
  KSERVE_UNARY(ServerMetadata, Role::kInfer, StatusCode::OK, {});
  KSERVE_UNARY(ModelMetadata, Role::kInfer, StatusCode::NOT_FOUND,
               q.set_name(target));
  KSERVE_UNARY(ModelInfer, Role::kInfer, StatusCode::NOT_FOUND,
               q.set_model_name(target));
  KSERVE_UNARY(RepositoryIndex, Role::kRead, StatusCode::OK, {});
  KSERVE_UNARY(RepositoryModelLoad, Role::kAdmin, StatusCode::NOT_FOUND,
               q.set_model_name(target));
  KSERVE_UNARY(RepositoryModelUnload, Role::kAdmin, StatusCode::NOT_FOUND,
               q.set_model_name(target));
#undef KSERVE_UNARY

  // pruneserve.v1.ModelRepository
  add("ModelRepository/UploadModel", Role::kAdmin, StatusCode::INVALID_ARGUMENT,
      [ch](grpc::Channel* c, const std::string& target) {
        grpc::ClientContext ctx;
        Deadline(&ctx);
        v1::UploadModelResponse r;
        auto writer = ModelRepository::NewStub(ch(c))->UploadModel(&ctx, &r);
        v1::UploadModelRequest q;
        // A version of `target` with no bytes: refused once read.
        q.mutable_header()->set_name(target);
        writer->Write(q);
        writer->WritesDone();
        return writer->Finish();
      });
#define REPO_UNARY(NAME, REQ, RESP, ROLE, ALLOWED, FILL)                   \
  UNARY("ModelRepository", ModelRepository, v1::REQ, v1::RESP, NAME, ROLE, \
        ALLOWED, FILL)
  REPO_UNARY(ListModels, ListModelsRequest, ListModelsResponse, Role::kRead,
             StatusCode::OK, {});
  REPO_UNARY(GetModel, GetModelRequest, GetModelResponse, Role::kRead,
             StatusCode::NOT_FOUND, q.set_name(target));
  REPO_UNARY(DeleteModel, DeleteModelRequest, DeleteModelResponse, Role::kAdmin,
             StatusCode::NOT_FOUND, q.set_name(target));
  REPO_UNARY(VerifyModels, VerifyModelsRequest, VerifyModelsResponse,
             Role::kAdmin, StatusCode::NOT_FOUND, q.set_name(target));
#undef REPO_UNARY
  add("ModelRepository/DownloadModel", Role::kRead, StatusCode::NOT_FOUND,
      [ch](grpc::Channel* c, const std::string& target) {
        grpc::ClientContext ctx;
        Deadline(&ctx);
        v1::DownloadModelRequest q;
        q.set_name(target);
        v1::DownloadModelChunk chunk;
        auto reader = ModelRepository::NewStub(ch(c))->DownloadModel(&ctx, q);
        while (reader->Read(&chunk)) {
        }
        return reader->Finish();
      });

  // pruneserve.v1.PruningJobs
#define JOBS_UNARY(NAME, ROLE, ALLOWED, FILL)                              \
  UNARY("PruningJobs", PruningJobs, v1::NAME##Request, v1::NAME##Response, \
        NAME, ROLE, ALLOWED, FILL)
  JOBS_UNARY(SubmitJob, Role::kAdmin, StatusCode::NOT_FOUND, {
    q.mutable_spec()->set_model_name(target);
    q.mutable_spec()->mutable_data()->set_calibration(
        std::string("fashion-mnist:") + kFashion + ":train");
  });
  JOBS_UNARY(GetJob, Role::kRead, StatusCode::NOT_FOUND, q.set_id(target));
  JOBS_UNARY(CancelJob, Role::kRead, StatusCode::NOT_FOUND, q.set_id(target));
  JOBS_UNARY(ListJobs, Role::kRead, StatusCode::OK, {});
#undef JOBS_UNARY
  add("PruningJobs/WatchJob", Role::kRead, StatusCode::NOT_FOUND,
      [ch](grpc::Channel* c, const std::string& target) {
        grpc::ClientContext ctx;
        Deadline(&ctx);
        v1::WatchJobRequest q;
        q.set_id(target);
        v1::JobEvent event;
        auto reader = PruningJobs::NewStub(ch(c))->WatchJob(&ctx, q);
        while (reader->Read(&event)) {
        }
        return reader->Finish();
      });

  // pruneserve.v1.Datasets
  add("Datasets/UploadDataset", Role::kAdmin, StatusCode::INVALID_ARGUMENT,
      [ch](grpc::Channel* c, const std::string& target) {
        grpc::ClientContext ctx;
        Deadline(&ctx);
        v1::UploadDatasetResponse r;
        auto writer = v1::Datasets::NewStub(ch(c))->UploadDataset(&ctx, &r);
        v1::UploadDatasetRequest q;
        // A data set `target` with no bytes: refused once read.
        q.mutable_header()->set_name(target);
        q.mutable_header()->set_format(v1::DATASET_FORMAT_CIFAR10);
        writer->Write(q);
        writer->WritesDone();
        return writer->Finish();
      });
#define DATASETS_UNARY(NAME, ROLE, ALLOWED, FILL)                              \
  UNARY("Datasets", v1::Datasets, v1::NAME##Request, v1::NAME##Response, NAME, \
        ROLE, ALLOWED, FILL)
  DATASETS_UNARY(ListDatasets, Role::kRead, StatusCode::OK, {});
  DATASETS_UNARY(GetDataset, Role::kRead, StatusCode::NOT_FOUND,
                 q.set_name(target));
  DATASETS_UNARY(DeleteDataset, Role::kAdmin, StatusCode::NOT_FOUND,
                 q.set_name(target));
#undef DATASETS_UNARY
#undef UNARY
  return rpcs;
}

// A unary call of any method with an empty request, for methods the server
// may not register.
grpc::Status GenericCall(const std::shared_ptr<grpc::Channel>& channel,
                         const std::string& method) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  Deadline(&ctx);
  grpc::ByteBuffer request, response;
  auto call = stub.PrepareUnaryCall(&ctx, method, request, &cq);
  call->StartCall();
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

TEST_F(SecurityE2eTest, EveryRoleOnEveryRpc) {
  std::vector<std::string> flags = TlsFlags();
  flags.push_back("--auth_tokens_file=" + WriteTokens());
  auto server = ServerProcess::Start(dir_.Join("data"), flags);
  ASSERT_TRUE(server.ok()) << server.status();

  // A model and a job that exist, to show denials do not depend on it.
  const std::string model_file = dir_.Join("tiny.pt");
  testing::WriteTinyCnn(model_file);
  auto admin = TlsChannel(**server, kAdminToken);
  client::RepositoryClient repo(admin);
  v1::UploadModelHeader header;
  header.set_name("tiny");
  header.set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
  header.add_example_input_shape(1);
  header.add_example_input_shape(1);
  header.add_example_input_shape(28);
  header.add_example_input_shape(28);
  auto uploaded = repo.Upload(header, model_file);
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();

  struct Caller {
    std::string label;
    std::string token;
    std::optional<Role> role;  // nullopt: no valid token
  };
  const Caller callers[] = {{"no token", "", std::nullopt},
                            {"unknown token", "guess", std::nullopt},
                            {"infer", kInferToken, Role::kInfer},
                            {"read", kReadToken, Role::kRead},
                            {"admin", kAdminToken, Role::kAdmin}};
  const std::vector<RpcCase> rpcs = AllRpcs();
  // Every method of every registered service is in the table.
  int methods = 0;
  for (const auto* service :
       {v1::ModelRepository::service_full_name(),
        v1::PruningJobs::service_full_name(), v1::Datasets::service_full_name(),
        ::inference::GRPCInferenceService::service_full_name(),
        grpc::health::v1::Health::service_full_name()}) {
    const auto* d =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            service);
    ASSERT_NE(d, nullptr) << service;
    methods += d->method_count();
  }
  EXPECT_EQ(rpcs.size(), static_cast<size_t>(methods));

  int checked = 0;
  for (const Caller& caller : callers) {
    auto channel = TlsChannel(**server, caller.token);
    for (const RpcCase& rpc : rpcs) {
      StatusCode expected = rpc.allowed;
      if (rpc.role.has_value()) {
        if (!caller.role.has_value()) {
          expected = StatusCode::UNAUTHENTICATED;
        } else if (!auth::RoleGrants(*caller.role, *rpc.role)) {
          expected = StatusCode::PERMISSION_DENIED;
        }
      }
      grpc::Status missing = rpc.call(channel.get(), "nosuch");
      EXPECT_EQ(missing.error_code(), expected)
          << rpc.method << " as " << caller.label << ": "
          << missing.error_message();
      if (expected == StatusCode::UNAUTHENTICATED ||
          expected == StatusCode::PERMISSION_DENIED) {
        // The same answer for a target that exists.
        const std::string existing =
            absl::StartsWith(rpc.method, "PruningJobs/") &&
                    rpc.method != "PruningJobs/SubmitJob"
                ? "job-000001"
                : "tiny";
        grpc::Status present = rpc.call(channel.get(), existing);
        EXPECT_EQ(present.error_code(), missing.error_code()) << rpc.method;
        EXPECT_EQ(present.error_message(), missing.error_message())
            << rpc.method;
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 5 * methods);

  // Reflection is off by default; an unknown method needs admin first.
  const std::string reflection =
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
  EXPECT_EQ(GenericCall(admin, reflection).error_code(),
            StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(
      GenericCall(TlsChannel(**server, kReadToken), "/x.Y/Z").error_code(),
      StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(GenericCall(admin, "/x.Y/Z").error_code(),
            StatusCode::UNIMPLEMENTED);
}

TEST_F(SecurityE2eTest, ReflectionOnlyWithTheFlag) {
  const std::string reflection =
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
  auto off = ServerProcess::Start(dir_.Join("off"));
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ(GenericCall(Channel(**off, {}), reflection).error_code(),
            StatusCode::UNIMPLEMENTED);
  auto on = ServerProcess::Start(dir_.Join("on"), {"--reflection"});
  ASSERT_TRUE(on.ok()) << on.status();
  // Registered: an empty unary call on the streaming method gets past
  // routing (anything but UNIMPLEMENTED).
  EXPECT_NE(GenericCall(Channel(**on, {}), reflection).error_code(),
            StatusCode::UNIMPLEMENTED);
}

TEST_F(SecurityE2eTest, DeniedAndDestructiveCallsAreAuditedAndCounted) {
  std::vector<std::string> flags = TlsFlags();
  flags.push_back("--auth_tokens_file=" + WriteTokens());
  auto server = ServerProcess::Start(dir_.Join("data"), flags);
  ASSERT_TRUE(server.ok()) << server.status();
  client::RepositoryClient as_read(TlsChannel(**server, kReadToken));
  client::RepositoryClient as_admin(TlsChannel(**server, kAdminToken));
  client::RepositoryClient anonymous(TlsChannel(**server));
  EXPECT_EQ(as_read.Delete("tiny", 0).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(anonymous.List("").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(as_admin.Delete("nosuch", 0).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(as_read.List("").ok());  // not audited: neither

  ASSERT_TRUE(WaitForStderr(**server, "outcome=allowed"));
  std::vector<std::string> lines;
  for (absl::string_view line :
       absl::StrSplit(ReadFile((*server)->stderr_path()), '\n')) {
    if (absl::StartsWith(line, "pruneserve audit: ")) {
      lines.emplace_back(line);
    }
  }
  ASSERT_EQ(lines.size(), 3u) << absl::StrJoin(lines, "\n");
  EXPECT_TRUE(absl::StrContains(lines[0], "outcome=permission_denied"));
  EXPECT_TRUE(absl::StrContains(
      lines[0], "rpc=/pruneserve.v1.ModelRepository/DeleteModel"));
  EXPECT_TRUE(absl::StrContains(lines[0], "who=bob role=read peer=tls"));
  EXPECT_TRUE(absl::StrContains(lines[0], " time=20")) << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[1], "outcome=unauthenticated"));
  EXPECT_TRUE(absl::StrContains(lines[1], "who=- role=-"));
  EXPECT_TRUE(absl::StrContains(lines[2], "outcome=allowed"));
  EXPECT_TRUE(absl::StrContains(lines[2], "who=alice role=admin"));

  auto metrics = testing::HttpGet((*server)->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(testing::MetricValue(
                *metrics,
                "pruneserve_rpc_audit_total{outcome=\"permission_denied\","
                "rpc=\"ModelRepository/DeleteModel\"}"),
            1.0);
  EXPECT_EQ(testing::MetricValue(
                *metrics,
                "pruneserve_rpc_audit_total{outcome=\"unauthenticated\","
                "rpc=\"ModelRepository/ListModels\"}"),
            1.0);
  EXPECT_EQ(testing::MetricValue(*metrics,
                                 "pruneserve_rpc_audit_total{outcome="
                                 "\"allowed\",rpc=\"ModelRepository/"
                                 "DeleteModel\"}"),
            1.0);
}

TEST_F(SecurityE2eTest, SighupReloadsTheTokensFile) {
  const std::string tokens = WriteTokens();
  std::vector<std::string> flags = TlsFlags();
  flags.push_back("--auth_tokens_file=" + tokens);
  auto server = ServerProcess::Start(dir_.Join("data"), flags);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(ListCode(TlsChannel(**server, "new-secret")),
            StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ListCode(TlsChannel(**server, kReadToken)), StatusCode::OK);

  WriteFile(tokens,
            auth::TokenFileLine("new-secret", Role::kRead, "carol") + "\n");
  ::kill((*server)->pid(), SIGHUP);
  ASSERT_TRUE(WaitForStderr(**server, "SIGHUP: tokens file reloaded"));
  EXPECT_EQ(ListCode(TlsChannel(**server, "new-secret")), StatusCode::OK);
  EXPECT_EQ(ListCode(TlsChannel(**server, kReadToken)),
            StatusCode::UNAUTHENTICATED);

  // A broken file keeps the tokens in force.
  WriteFile(tokens, "not a token line\n");
  ::kill((*server)->pid(), SIGHUP);
  ASSERT_TRUE(WaitForStderr(**server, "previous tokens kept"));
  EXPECT_EQ(ListCode(TlsChannel(**server, "new-secret")), StatusCode::OK);
}

TEST_F(SecurityE2eTest, JobsRecordTheSubmitterWhoMayCancelThem) {
  if (!std::ifstream(std::string(kFashion) + "/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  const std::string tokens = WriteTokens();
  std::vector<std::string> flags = TlsFlags();
  flags.push_back("--auth_tokens_file=" + tokens);
  // The jobs read Fashion-MNIST by server path.
  flags.push_back("--data_roots=/usr/share/datasets");
  auto server = ServerProcess::Start(dir_.Join("data"), flags);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string model_file = dir_.Join("tiny.pt");
  testing::WriteTinyCnn(model_file);
  auto admin = TlsChannel(**server, kAdminToken);
  v1::UploadModelHeader header;
  header.set_name("tiny");
  header.set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
  for (int d : {1, 1, 28, 28}) header.add_example_input_shape(d);
  auto uploaded = client::RepositoryClient(admin).Upload(header, model_file);
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();

  auto submit = [&](const std::shared_ptr<grpc::Channel>& channel) {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    v1::SubmitJobRequest q;
    q.mutable_spec()->set_model_name("tiny");
    q.mutable_spec()->mutable_data()->set_calibration(
        std::string("fashion-mnist:") + kFashion + ":train");
    q.mutable_spec()->mutable_data()->set_calibration_images(16);
    v1::SubmitJobResponse r;
    grpc::Status s = v1::PruningJobs::NewStub(channel)->SubmitJob(&ctx, q, &r);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return r.job();
  };
  auto cancel = [&](const std::shared_ptr<grpc::Channel>& channel,
                    const std::string& id) {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    v1::CancelJobRequest q;
    q.set_id(id);
    v1::CancelJobResponse r;
    return v1::PruningJobs::NewStub(channel)->CancelJob(&ctx, q, &r);
  };
  v1::Job job = submit(admin);
  EXPECT_EQ(job.submitted_by(), "alice");

  // bob (read) sees the job but may not cancel it.
  auto bob = TlsChannel(**server, kReadToken);
  {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    v1::GetJobRequest q;
    q.set_id(job.id());
    v1::GetJobResponse r;
    ASSERT_TRUE(v1::PruningJobs::NewStub(bob)->GetJob(&ctx, q, &r).ok());
    EXPECT_EQ(r.job().submitted_by(), "alice");
  }
  testing::CommandResult shown = testing::RunPrunectl(
      absl::StrCat("--server ", (*server)->grpc_address(), " --tls-ca ",
                   pki_->ca, " --token ", kReadToken, " job get ", job.id()));
  EXPECT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_TRUE(absl::StrContains(shown.output, "submitted:   alice"))
      << shown.output;
  grpc::Status denied = cancel(bob, job.id());
  EXPECT_EQ(denied.error_code(), StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(WaitForStderr(**server, "detail=not_the_submitter"));

  // alice, demoted to read, may still cancel her own job.
  WriteFile(tokens,
            auth::TokenFileLine(kAdminToken, Role::kRead, "alice") + "\n");
  ::kill((*server)->pid(), SIGHUP);
  ASSERT_TRUE(WaitForStderr(**server, "SIGHUP: tokens file reloaded"));
  grpc::Status own = cancel(admin, job.id());
  EXPECT_TRUE(own.ok() || own.error_code() == StatusCode::FAILED_PRECONDITION)
      << own.error_code() << " " << own.error_message();
}

TEST_F(SecurityE2eTest, TokensWithoutTlsWorkOnLoopback) {
  // prunectl makes the token and the tokens-file line.
  testing::CommandResult made =
      testing::RunPrunectl("--json token create ci-bot --role read");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  std::string token, line;
  for (absl::string_view l : absl::StrSplit(made.output, '\n')) {
    // Lines like:   "token": "pst_...",
    auto value = [&] {
      std::string v(absl::StripAsciiWhitespace(l.substr(l.find(':') + 1)));
      return v.substr(1, v.rfind('"') - 1);
    };
    if (absl::StrContains(l, "\"token\"")) token = value();
    if (absl::StrContains(l, "\"tokens_file_line\"")) line = value();
  }
  ASSERT_TRUE(absl::StartsWith(token, "pst_")) << made.output;
  ASSERT_TRUE(absl::EndsWith(line, " read ci-bot")) << made.output;
  WriteFile(dir_.Join("tokens"), line + "\n");

  auto server = ServerProcess::Start(
      dir_.Join("data"), {"--auth_tokens_file=" + dir_.Join("tokens")});
  ASSERT_TRUE(server.ok()) << server.status();
  client::ChannelOptions plain;
  plain.token = token;
  EXPECT_EQ(ListCode(Channel(**server, plain)), StatusCode::OK);
  EXPECT_EQ(ListCode(Channel(**server, {})), StatusCode::UNAUTHENTICATED);

  const std::string s = "--server " + (*server)->grpc_address();
  testing::CommandResult r =
      testing::RunPrunectl(absl::StrCat(s, " --token ", token, " model list"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  ::setenv("PRUNESERVE_TOKEN", token.c_str(), 1);
  r = testing::RunPrunectl(absl::StrCat(s, " model list"));
  ::unsetenv("PRUNESERVE_TOKEN");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = testing::RunPrunectl(absl::StrCat(s, " model rm nosuch"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.output, "UNAUTHENTICATED")) << r.output;
  r = testing::RunPrunectl(
      absl::StrCat(s, " --token ", token, " model rm nosuch"));
  EXPECT_TRUE(absl::StrContains(r.output, "PERMISSION_DENIED")) << r.output;
}

TEST_F(SecurityE2eTest, NonLoopbackNeedsTlsAndTokensOrAnExplicitOverride) {
  auto refused = ServerProcess::Start(dir_.Join("a"), {"--listen=0.0.0.0:0"});
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::StrContains(
      refused.status().message(),
      "refusing to serve gRPC on the non-loopback address 0.0.0.0:0 without "
      "TLS (--tls_cert, --tls_key) and tokens (--auth_tokens_file)"))
      << refused.status();
  EXPECT_TRUE(
      absl::StrContains(refused.status().message(), "--insecure_remote"));

  std::vector<std::string> tls_only = TlsFlags();
  tls_only.push_back("--listen=0.0.0.0:0");
  refused = ServerProcess::Start(dir_.Join("b"), tls_only);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::StrContains(refused.status().message(),
                                "without tokens (--auth_tokens_file)"))
      << refused.status();

  refused =
      ServerProcess::Start(dir_.Join("c"), {"--metrics_listen=0.0.0.0:0"});
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::StrContains(refused.status().message(),
                                "refusing to serve /metrics"))
      << refused.status();

  std::vector<std::string> secured = TlsFlags();
  secured.push_back("--listen=0.0.0.0:0");
  secured.push_back("--auth_tokens_file=" + WriteTokens());
  auto server = ServerProcess::Start(dir_.Join("d"), secured);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(ListCode(TlsChannel(**server, kReadToken)), StatusCode::OK);
  (*server)->Stop(SIGTERM);

  auto insecure = ServerProcess::Start(
      dir_.Join("e"), {"--listen=0.0.0.0:0", "--insecure_remote"});
  ASSERT_TRUE(insecure.ok()) << insecure.status();
  EXPECT_TRUE(absl::StrContains(ReadFile((*insecure)->stderr_path()),
                                "WARNING: --insecure_remote"));
  EXPECT_EQ(ListCode(Channel(**insecure, {})), StatusCode::OK);
}

}  // namespace
}  // namespace pruneserve
