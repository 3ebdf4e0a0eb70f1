// `prunectl model upload|list|show|download|rm`.
#ifndef PRUNESERVE_CLIENT_MODEL_COMMANDS_H_
#define PRUNESERVE_CLIENT_MODEL_COMMANDS_H_

#include "CLI/CLI.hpp"
#include "client/cli_context.h"

namespace pruneserve::client {

// Adds the `model` command group to `app`. `ctx` must outlive parsing.
void RegisterModelCommands(CLI::App& app, CliContext& ctx);

}  // namespace pruneserve::client

#endif  // PRUNESERVE_CLIENT_MODEL_COMMANDS_H_
