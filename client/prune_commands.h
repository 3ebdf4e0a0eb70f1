// `prunectl prune --local`: the pruning engine on a TorchScript file, without
// a server.
#ifndef PRUNESERVE_CLIENT_PRUNE_COMMANDS_H_
#define PRUNESERVE_CLIENT_PRUNE_COMMANDS_H_

#include "CLI/CLI.hpp"
#include "client/cli_context.h"

namespace pruneserve::client {

// Adds `prune` to `app`. `ctx` must outlive parsing.
void RegisterPruneCommands(CLI::App& app, CliContext& ctx);

}  // namespace pruneserve::client

#endif  // PRUNESERVE_CLIENT_PRUNE_COMMANDS_H_
