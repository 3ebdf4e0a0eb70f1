// prunectl: the PruneServe command line. Each command group lives in its own
// *_commands.cc and registers itself on the CLI11 app.
#include "CLI/CLI.hpp"
#include "client/cli_context.h"
#include "client/job_commands.h"
#include "client/model_commands.h"
#include "client/prune_commands.h"
#include "client/serve_commands.h"
#include "client/token_commands.h"
#include "client/zoo_commands.h"
#include "core/util/allocator_pages.h"

int main(int argc, char** argv) {
  // `prune --local` and `zoo build` train and prune in this process.
  pruneserve::KeepAllocatorPages();
  pruneserve::client::CliContext ctx;
  CLI::App app{
      "prunectl: manage models, pruning jobs and inference on a "
      "PruneServe server."};
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
  pruneserve::client::RegisterModelCommands(app, ctx);
  pruneserve::client::RegisterZooCommands(app, ctx);
  pruneserve::client::RegisterServeCommands(app, ctx);
  pruneserve::client::RegisterPruneCommands(app, ctx);
  pruneserve::client::RegisterJobCommands(app, ctx);
  pruneserve::client::RegisterTokenCommands(app, ctx);
  CLI11_PARSE(app, argc, argv);
  return ctx.exit_code;
}
