// `prunectl job submit|watch|get|cancel|ls`: pruning jobs on the server.
#ifndef PRUNESERVE_CLIENT_JOB_COMMANDS_H_
#define PRUNESERVE_CLIENT_JOB_COMMANDS_H_

#include "CLI/CLI.hpp"
#include "client/cli_context.h"

namespace pruneserve::client {

// Adds `job` and its subcommands to `app`. `ctx` must outlive parsing.
void RegisterJobCommands(CLI::App& app, CliContext& ctx);

}  // namespace pruneserve::client

#endif  // PRUNESERVE_CLIENT_JOB_COMMANDS_H_
