// `prunectl token create NAME --role R`: makes a new random bearer token and
// prints it with the line to add to the server's --auth_tokens_file (which
// holds only the token's SHA-256). Runs locally; talks to no server.
#ifndef PRUNESERVE_CLIENT_TOKEN_COMMANDS_H_
#define PRUNESERVE_CLIENT_TOKEN_COMMANDS_H_

#include "CLI/CLI.hpp"
#include "client/cli_context.h"

namespace pruneserve::client {

// Adds the `token` command group to `app`. `ctx` must outlive parsing.
void RegisterTokenCommands(CLI::App& app, CliContext& ctx);

}  // namespace pruneserve::client

#endif  // PRUNESERVE_CLIENT_TOKEN_COMMANDS_H_
