// Server: the network face of a ServerCore. Binds the gRPC services
// (pruneserve.v1, grpc.health.v1, reflection) and the Prometheus exposer, and
// shuts them down gracefully.
#ifndef PRUNESERVE_SERVER_SERVER_H_
#define PRUNESERVE_SERVER_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/server_core.h"

namespace grpc {
class Server;
}
namespace prometheus {
class Exposer;
}

namespace pruneserve {

class InferenceService;
class ModelRepositoryService;
class PruningJobsService;

struct ServerOptions {
  // gRPC listen address; port 0 picks a free port (see grpc_port()).
  std::string listen_address = "127.0.0.1:8500";
  // Prometheus /metrics address; empty disables the exposer. Port 0 picks a
  // free port (see metrics_port()).
  std::string metrics_address = "127.0.0.1:9464";
  // Upper bound on threads serving synchronous RPCs.
  int rpc_threads = 128;
  // Largest gRPC message accepted, in bytes (uploads stream in chunks far
  // smaller than this).
  int max_message_bytes = 64 << 20;
};

// Owns the ServerCore, the grpc::Server and the exposer. Start() once, then
// Shutdown() (from any thread) and Wait(). Thread-safe after Start().
class Server {
 public:
  // Binds both listeners. UNAVAILABLE naming the address when a port is taken.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      ServerOptions options, std::unique_ptr<ServerCore> core);
  ~Server();

  // Marks health NOT_SERVING, lets in-flight RPCs finish until `grace`
  // passes, then cancels the rest. Blocks until the server stopped.
  void Shutdown(absl::Duration grace);
  // Blocks until Shutdown() completed.
  void Wait();

  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  ServerCore& core() { return *core_; }

 private:
  Server() = default;

  std::unique_ptr<ServerCore> core_;
  std::unique_ptr<ModelRepositoryService> repository_service_;
  std::unique_ptr<InferenceService> inference_service_;
  std::unique_ptr<PruningJobsService> jobs_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
};

}  // namespace pruneserve

#endif  // PRUNESERVE_SERVER_SERVER_H_
