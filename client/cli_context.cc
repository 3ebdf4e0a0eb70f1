#include "client/cli_context.h"

namespace pruneserve::client {

void ConfigurePrunectl(CLI::App& app, CliContext& ctx) {
  app.name("prunectl");
  app.description(
      "prunectl: manage models, pruning jobs and inference on a PruneServe "
      "server.");
  app.require_subcommand(1);
  // Global flags such as --json may follow the subcommand.
  app.fallthrough();
  app.add_option("-s,--server", ctx.server, "Server address host:port")
      ->envname("PRUNESERVE_SERVER")
      ->capture_default_str();
  app.add_option("--token", ctx.token,
                 "Bearer token sent on every call (prunectl token create)")
      ->envname("PRUNESERVE_TOKEN");
  app.add_option("--tls-ca", ctx.tls_ca,
                 "PEM CA of the server certificate; selects TLS")
      ->envname("PRUNESERVE_TLS_CA")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-cert", ctx.tls_cert,
                 "PEM client certificate for mutual TLS (with --tls-key)")
      ->envname("PRUNESERVE_TLS_CERT")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", ctx.tls_key, "PEM key of --tls-cert")
      ->envname("PRUNESERVE_TLS_KEY")
      ->check(CLI::ExistingFile);
  app.add_flag("--json", ctx.json, "Print JSON instead of tables");
}

}  // namespace pruneserve::client
