// The prunectl commands that run LibTorch in the calling process — `zoo`
// (build models of the built-in zoo) and `prune --local` (the engine on a
// file) — live in a second binary, prunectl-local, so that `prunectl` and its
// remote commands link no LibTorch (it starts faster and is a small
// download). `prunectl zoo ...` and `prunectl prune ...` replace the process
// with prunectl-local and the same arguments, so users keep one command
// name; `--help` of those commands is prunectl-local's.
#ifndef PRUNESERVE_CLIENT_LOCAL_COMMANDS_H_
#define PRUNESERVE_CLIENT_LOCAL_COMMANDS_H_

#include "CLI/CLI.hpp"
#include "client/cli_context.h"

namespace pruneserve::client {

// One-line descriptions, shared by the forwarding and the real commands.
inline constexpr char kZooCommandHelp[] =
    "Build models of the built-in zoo as TorchScript files.";
inline constexpr char kPruneCommandHelp[] =
    "Prune a TorchScript CNN in this process (layer-wise refined pruning by "
    "default); the flags are `job submit`'s.";

// The binary's file name, looked up next to the running prunectl and then
// on PATH.
inline constexpr char kLocalBinaryName[] = "prunectl-local";

// Adds `zoo` and `prune` to `app` as commands that exec prunectl-local with
// argv[1..argc). argv must outlive parsing. When prunectl-local cannot be
// started, prints why and sets ctx.exit_code to 127.
void RegisterLocalForwarders(CLI::App& app, CliContext& ctx, int argc,
                             char** argv);

}  // namespace pruneserve::client

#endif  // PRUNESERVE_CLIENT_LOCAL_COMMANDS_H_
