#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "prometheus/exposer.h"
#include "server/audit_log.h"
#include "server/dataset_service.h"
#include "server/inference_service.h"
#include "server/model_repository_service.h"
#include "server/pruning_jobs_service.h"
#include "server/rpc_authorizer.h"
#include "server/thread_stack_floor.h"

namespace pruneserve {
namespace {

// Linking gRPC's reflection library registers its plugin for every server
// at static initialisation; this option takes it out of one builder.
class WithoutReflection final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*
                         plugins) override {
    plugins->erase(
        std::remove_if(
            plugins->begin(), plugins->end(),
            [](const std::unique_ptr<grpc::ServerBuilderPlugin>& p) {
              return dynamic_cast<
                         grpc::reflection::ProtoServerReflectionPlugin*>(
                         p.get()) != nullptr;
            }),
        plugins->end());
  }
};

// Refuses listeners that would expose an unprotected server beyond this
// machine; warns loudly when --insecure_remote overrides that.
absl::Status CheckExposure(const ServerOptions& options) {
  const bool with_auth = !options.auth_tokens_file.empty();
  if (!IsLoopbackAddress(options.listen_address)) {
    if (!options.tls.enabled() || !with_auth) {
      if (!options.insecure_remote) {
        return absl::FailedPreconditionError(absl::StrCat(
            "refusing to serve gRPC on the non-loopback address ",
            options.listen_address, " without ",
            options.tls.enabled() ? "" : "TLS (--tls_cert, --tls_key)",
            !options.tls.enabled() && !with_auth ? " and " : "",
            with_auth ? "" : "tokens (--auth_tokens_file)",
            ": anyone who reaches the port could delete models and run "
            "jobs. Give them, listen on 127.0.0.1, or pass --insecure_remote "
            "to accept the risk"));
      }
      // Tokens without TLS are refused by MakeServerCredentials; what is
      // left to warn about is a server without authentication.
      if (!with_auth) {
        std::fprintf(stderr,
                     "pruneserve: WARNING: --insecure_remote: serving gRPC on "
                     "%s WITHOUT AUTHENTICATION%s. Anyone who can reach this "
                     "port can delete every model, run and cancel jobs and "
                     "download all models. Use only on a network you fully "
                     "trust.\n",
                     options.listen_address.c_str(),
                     options.tls.enabled() ? "" : " AND WITHOUT TLS");
      }
    }
  }
  if (!options.metrics_address.empty() &&
      !IsLoopbackAddress(options.metrics_address) &&
      !options.metrics_allow_remote) {
    return absl::FailedPreconditionError(absl::StrCat(
        "refusing to serve /metrics on the non-loopback address ",
        options.metrics_address,
        ": the endpoint has no TLS and no authentication. Scrape it on "
        "127.0.0.1, or pass --metrics_allow_remote to expose it"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    ServerOptions options, std::unique_ptr<ServerCore> core) {
  auto server = std::unique_ptr<Server>(new Server());
  server->core_ = std::move(core);

  // Pulls in the stack-size interposer; see thread_stack_floor.h.
  (void)ThreadStackFloor();

  if (absl::Status exposure = CheckExposure(options); !exposure.ok()) {
    return exposure;
  }
  const bool with_auth = !options.auth_tokens_file.empty();
  auto credentials =
      MakeServerCredentials(options.tls, with_auth, options.listen_address);
  if (!credentials.ok()) return credentials.status();
  if (with_auth) {
    auto tokens = auth::TokenStore::Create({options.auth_tokens_file});
    if (!tokens.ok()) return tokens.status();
    server->tokens_ = *std::move(tokens);
    AuditLogOptions audit_options;
    audit_options.registry = server->core_->metrics_registry();
    server->audit_ = std::make_unique<AuditLog>(std::move(audit_options));
    server->authorizer_ = std::make_unique<RpcAuthorizer>(server->tokens_.get(),
                                                          server->audit_.get());
    (*credentials)
        ->SetAuthMetadataProcessor(
            server->authorizer_->MakeMetadataProcessor());
  }

  if (!options.metrics_address.empty()) {
    try {
      server->exposer_ =
          std::make_unique<prometheus::Exposer>(options.metrics_address);
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat(
          "cannot serve metrics on ", options.metrics_address, ": ", e.what()));
    }
    server->exposer_->RegisterCollectable(server->core_->metrics_registry());
    server->exposer_->RegisterCollectable(server->core_->process_metrics());
    server->exposer_->RegisterCollectable(server->core_->throughput_metrics());
    auto ports = server->exposer_->GetListeningPorts();
    if (!ports.empty()) server->metrics_port_ = ports.front();
  }

  grpc::EnableDefaultHealthCheckService(true);
  if (options.reflection) {
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  }
  // The callback services never block gRPC's threads: blocking work goes to
  // this executor, time limits to the timer thread.
  BlockingExecutorOptions executor_options;
  executor_options.threads = options.rpc_threads;
  auto executor = BlockingExecutor::Create(executor_options);
  if (!executor.ok()) return executor.status();
  server->executor_ = *std::move(executor);
  server->timers_ = std::make_unique<TimerQueue>();
  server->refusals_ =
      std::make_unique<AdmissionRefusals>(*server->core_->metrics_registry());
  RpcRuntime& runtime = server->runtime_;
  runtime.executor = server->executor_.get();
  runtime.timers = server->timers_.get();
  runtime.default_deadline = options.default_rpc_deadline;
  runtime.idle_timeout = options.upload_idle_timeout;
  runtime.max_concurrent_uploads = options.max_concurrent_uploads;
  runtime.refusals = server->refusals_.get();
  server->repository_service_ = std::make_unique<ModelRepositoryService>(
      server->core_.get(), &server->runtime_);
  server->inference_service_ = std::make_unique<InferenceService>(
      server->core_.get(), &server->runtime_);
  server->jobs_service_ = std::make_unique<PruningJobsService>(
      server->core_.get(), &server->runtime_, server->authorizer_.get());
  server->dataset_service_ =
      std::make_unique<DatasetService>(server->core_.get(), &server->runtime_);

  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address, *credentials,
                           &server->grpc_port_);
  builder.RegisterService(server->repository_service_.get());
  builder.RegisterService(server->inference_service_.get());
  builder.RegisterService(server->jobs_service_.get());
  builder.RegisterService(server->dataset_service_.get());
  if (!options.reflection) {
    builder.SetOption(std::make_unique<WithoutReflection>());
  }
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  // Keepalive pings find clients that vanished without closing their
  // streams (idle WatchJob streams have no other bound).
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  grpc::ResourceQuota quota("pruneserve");
  quota.SetMaxThreads(options.rpc_threads);
  builder.SetResourceQuota(quota);
  server->grpc_server_ = builder.BuildAndStart();
  if (!server->grpc_server_ || server->grpc_port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for gRPC on ",
                                               options.listen_address,
                                               " (address in use or invalid)"));
  }
  // The repository is open by construction of the core: report SERVING.
  server->grpc_server_->GetHealthCheckService()->SetServingStatus(true);
  return server;
}

absl::Status Server::ReloadAuthTokens() {
  if (tokens_ == nullptr) {
    return absl::FailedPreconditionError("the server runs without tokens");
  }
  return tokens_->Reload();
}

Server::~Server() {
  if (grpc_server_) Shutdown(absl::ZeroDuration());
}

void Server::Shutdown(absl::Duration grace) {
  if (!grpc_server_) return;
  grpc_server_->GetHealthCheckService()->Shutdown();
  inference_service_->SetNotReady();
  // Running jobs stop at their next step and stay queued for the next start;
  // open WatchJob streams end with UNAVAILABLE.
  core_->jobs().Stop();
  core_->scrubber().Stop();
  grpc_server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  grpc_server_->Wait();
  grpc_server_.reset();
  // Every call has ended: what is left on the executor or the timers only
  // finds finished calls.
  executor_->Stop();
  timers_->Stop();
  core_->models().UnloadAll();
  exposer_.reset();
}

void Server::Wait() {
  if (grpc_server_) grpc_server_->Wait();
}

}  // namespace pruneserve
