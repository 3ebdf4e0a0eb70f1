// Server: the network face of a ServerCore. Binds the gRPC services
// (pruneserve.v1, grpc.health.v1, optionally reflection) and the Prometheus
// exposer, secures the gRPC port (TLS, bearer tokens with roles, see
// transport_security.h and rpc_authorizer.h), and shuts down gracefully.
#ifndef PRUNESERVE_SERVER_SERVER_H_
#define PRUNESERVE_SERVER_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/auth/token_store.h"
#include "core/metrics/admission_refusals.h"
#include "server/blocking_executor.h"
#include "server/callback_rpc.h"
#include "server/server_core.h"
#include "server/timer_queue.h"
#include "server/transport_security.h"

namespace grpc {
class Server;
}
namespace prometheus {
class Exposer;
}

namespace pruneserve {

class AuditLog;
class DatasetService;
class InferenceService;
class ModelRepositoryService;
class PruningJobsService;
class RpcAuthorizer;

struct ServerOptions {
  // gRPC listen address; port 0 picks a free port (see grpc_port()).
  std::string listen_address = "127.0.0.1:8500";
  // Prometheus /metrics address; empty disables the exposer. Port 0 picks a
  // free port (see metrics_port()).
  std::string metrics_address = "127.0.0.1:9464";
  // Threads of the executor that runs blocking RPC work (database, files,
  // upload validation, loads, job submission) off gRPC's callback threads;
  // also the bound on threads of any synchronous service (reflection).
  int rpc_threads = 8;
  // Server-side deadline of unary calls that came without one.
  absl::Duration default_rpc_deadline = absl::Seconds(120);
  // Upload and download streams with no message for this long are ended
  // with DEADLINE_EXCEEDED (an upload's temp file is removed).
  absl::Duration upload_idle_timeout = absl::Seconds(60);
  // Uploads open at once; one more is RESOURCE_EXHAUSTED.
  int max_concurrent_uploads = 64;
  // Largest gRPC message accepted, in bytes (uploads stream in chunks far
  // smaller than this).
  int max_message_bytes = 64 << 20;
  // TLS on the gRPC port; disabled (plaintext) by default.
  TlsOptions tls;
  // Tokens file ("sha256-hex role name" per line, core/auth/token_file.h);
  // every call but health and ServerLive then needs a bearer token of the
  // right role. Empty (default) = no authentication.
  std::string auth_tokens_file;
  // Serve a non-loopback listen_address without TLS and tokens anyway.
  // Default false: such a server refuses to start.
  bool insecure_remote = false;
  // Serve /metrics (plaintext, no authentication) on a non-loopback
  // metrics_address. Default false: such a server refuses to start.
  bool metrics_allow_remote = false;
  // Register gRPC server reflection. Default off.
  bool reflection = false;
};

// Owns the ServerCore, the grpc::Server and the exposer. Start() once, then
// Shutdown() (from any thread) and Wait(). Thread-safe after Start().
class Server {
 public:
  // Binds both listeners. UNAVAILABLE naming the address when a port is
  // taken; FAILED_PRECONDITION for a non-loopback address without TLS and
  // tokens (or metrics_allow_remote); the tokens file's and the TLS files'
  // errors.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      ServerOptions options, std::unique_ptr<ServerCore> core);
  ~Server();

  // Marks health NOT_SERVING, lets in-flight RPCs finish until `grace`
  // passes, then cancels the rest. Blocks until the server stopped.
  void Shutdown(absl::Duration grace);
  // Blocks until Shutdown() completed.
  void Wait();

  // Re-reads the tokens file (SIGHUP). FAILED_PRECONDITION without one; the
  // file's error, with the previous tokens still in force. Blocks on I/O.
  absl::Status ReloadAuthTokens();

  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  ServerCore& core() { return *core_; }

 private:
  Server() = default;

  std::unique_ptr<ServerCore> core_;
  // Token check and audit; null without a tokens file. Outlive the gRPC
  // server, whose credentials hold the processor that borrows them.
  std::unique_ptr<auth::TokenStore> tokens_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<RpcAuthorizer> authorizer_;
  // What the callback services share; declared before them so that it
  // outlives them. Stopped in Shutdown() once gRPC has stopped.
  std::unique_ptr<BlockingExecutor> executor_;
  std::unique_ptr<TimerQueue> timers_;
  std::unique_ptr<AdmissionRefusals> refusals_;
  RpcRuntime runtime_;
  std::unique_ptr<ModelRepositoryService> repository_service_;
  std::unique_ptr<InferenceService> inference_service_;
  std::unique_ptr<PruningJobsService> jobs_service_;
  std::unique_ptr<DatasetService> dataset_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_SERVER_H_
