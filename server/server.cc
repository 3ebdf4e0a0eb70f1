#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "prometheus/exposer.h"
#include "server/inference_service.h"
#include "server/model_repository_service.h"
#include "server/pruning_jobs_service.h"
#include "server/thread_stack_floor.h"

namespace pruneserve {

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    ServerOptions options, std::unique_ptr<ServerCore> core) {
  auto server = std::unique_ptr<Server>(new Server());
  server->core_ = std::move(core);

  // Pulls in the stack-size interposer; see thread_stack_floor.h.
  (void)ThreadStackFloor();
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
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  server->repository_service_ =
      std::make_unique<ModelRepositoryService>(server->core_.get());
  server->inference_service_ =
      std::make_unique<InferenceService>(server->core_.get());
  server->jobs_service_ =
      std::make_unique<PruningJobsService>(server->core_.get());

  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address,
                           grpc::InsecureServerCredentials(),
                           &server->grpc_port_);
  builder.RegisterService(server->repository_service_.get());
  builder.RegisterService(server->inference_service_.get());
  builder.RegisterService(server->jobs_service_.get());
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
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
  grpc_server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  grpc_server_->Wait();
  grpc_server_.reset();
  core_->models().UnloadAll();
  exposer_.reset();
}

void Server::Wait() {
  if (grpc_server_) grpc_server_->Wait();
}

}  // namespace pruneserve
