// `prunectl serve load|unload|ls`, `prunectl infer` and `prunectl bench`:
// the inference side of the CLI, over the KServe v2 gRPC service.
#ifndef PRUNESERVE_CLIENT_SERVE_COMMANDS_H_
#define PRUNESERVE_CLIENT_SERVE_COMMANDS_H_

#include "CLI/CLI.hpp"
#include "client/cli_context.h"

namespace pruneserve::client {

// Adds `serve`, `infer` and `bench` to `app`. `ctx` must outlive parsing.
void RegisterServeCommands(CLI::App& app, CliContext& ctx);

}  // namespace pruneserve::client

#endif  // PRUNESERVE_CLIENT_SERVE_COMMANDS_H_
