// prunectl-local: the prunectl commands that run LibTorch in this process
// (`zoo`, `prune --local`). Users call them as `prunectl zoo ...` and
// `prunectl prune ...`; prunectl replaces itself with this binary.
#include "CLI/CLI.hpp"
#include "client/cli_context.h"
#include "client/prune_commands.h"
#include "client/zoo_commands.h"
#include "core/util/allocator_pages.h"

int main(int argc, char** argv) {
  // `prune --local` and `zoo build` train and prune in this process.
  pruneserve::KeepAllocatorPages();
  pruneserve::client::CliContext ctx;
  CLI::App app;
  pruneserve::client::ConfigurePrunectl(app, ctx);
  pruneserve::client::RegisterZooCommands(app, ctx);
  pruneserve::client::RegisterPruneCommands(app, ctx);
  CLI11_PARSE(app, argc, argv);
  return ctx.exit_code;
}
