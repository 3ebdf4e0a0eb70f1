// prunectl: the PruneServe command line. Each command group lives in its own
// *_commands.cc and registers itself on the CLI11 app. This binary links no
// LibTorch: `zoo` and `prune --local` run in prunectl-local
// (client/local_commands.h), which this one starts for them.
#include "CLI/CLI.hpp"
#include "client/cli_context.h"
#include "client/dataset_commands.h"
#include "client/job_commands.h"
#include "client/local_commands.h"
#include "client/model_commands.h"
#include "client/serve_commands.h"
#include "client/token_commands.h"

int main(int argc, char** argv) {
  pruneserve::client::CliContext ctx;
  CLI::App app;
  pruneserve::client::ConfigurePrunectl(app, ctx);
  pruneserve::client::RegisterModelCommands(app, ctx);
  pruneserve::client::RegisterServeCommands(app, ctx);
  pruneserve::client::RegisterJobCommands(app, ctx);
  pruneserve::client::RegisterDatasetCommands(app, ctx);
  pruneserve::client::RegisterTokenCommands(app, ctx);
  pruneserve::client::RegisterLocalForwarders(app, ctx, argc, argv);
  CLI11_PARSE(app, argc, argv);
  return ctx.exit_code;
}
