// pruneserve: the PruneServe daemon. Flags become ServerCoreOptions and
// ServerOptions; SIGINT/SIGTERM trigger a graceful shutdown.
#include <pthread.h>
#include <signal.h>

#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "server/server.h"
#include "server/server_core.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:8500",
          "gRPC listen address (host:port; port 0 picks a free one).");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9464",
          "Prometheus /metrics address; empty disables it.");
ABSL_FLAG(std::string, data_dir, "./var/pruneserve",
          "Directory holding the model database and blobs.");
ABSL_FLAG(int, rpc_threads, 16, "Maximum threads serving RPCs.");
ABSL_FLAG(int64_t, max_model_mb, 2048, "Largest accepted model, in MiB.");
ABSL_FLAG(int, shutdown_grace_seconds, 10,
          "On SIGINT/SIGTERM, how long in-flight RPCs may run before they "
          "are cancelled.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "PruneServe: model repository, pruning jobs and inference over gRPC.");
  absl::ParseCommandLine(argc, argv);

  // Block the shutdown signals in every thread; main waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  pruneserve::ServerCoreOptions core_options;
  core_options.data_dir = absl::GetFlag(FLAGS_data_dir);
  core_options.max_model_bytes = absl::GetFlag(FLAGS_max_model_mb) << 20;
  auto core = pruneserve::ServerCore::Create(core_options);
  if (!core.ok()) {
    fprintf(stderr, "pruneserve: %s\n", core.status().ToString().c_str());
    return 1;
  }

  pruneserve::ServerOptions options;
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_listen);
  options.rpc_threads = absl::GetFlag(FLAGS_rpc_threads);
  auto server = pruneserve::Server::Start(options, *std::move(core));
  if (!server.ok()) {
    fprintf(stderr, "pruneserve: %s\n", server.status().ToString().c_str());
    return 1;
  }
  // Tests and scripts read this line to learn the bound ports.
  printf("pruneserve: serving grpc_port=%d metrics_port=%d data_dir=%s\n",
         (*server)->grpc_port(), (*server)->metrics_port(),
         core_options.data_dir.c_str());
  fflush(stdout);

  int sig = 0;
  sigwait(&signals, &sig);
  fprintf(stderr, "pruneserve: signal %d, shutting down\n", sig);
  (*server)->Shutdown(absl::Seconds(absl::GetFlag(FLAGS_shutdown_grace_seconds)));
  fprintf(stderr, "pruneserve: stopped\n");
  return 0;
}
