// `prunectl zoo list|build`: the built-in model zoo, written as TorchScript
// archives that any LibTorch or Python (torch.jit.load) user can load.
#ifndef PRUNESERVE_CLIENT_ZOO_COMMANDS_H_
#define PRUNESERVE_CLIENT_ZOO_COMMANDS_H_

#include "CLI/CLI.hpp"
#include "client/cli_context.h"

namespace pruneserve::client {

// Adds the `zoo` command group to `app`. `ctx` must outlive parsing.
void RegisterZooCommands(CLI::App& app, CliContext& ctx);

}  // namespace pruneserve::client

#endif  // PRUNESERVE_CLIENT_ZOO_COMMANDS_H_
