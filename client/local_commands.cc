#include "client/local_commands.h"

#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace pruneserve::client {
namespace {

// prunectl-local beside the running executable, or just the name (then
// execvp searches PATH).
std::string LocalBinary() {
  std::error_code ec;
  const std::filesystem::path self =
      std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const std::filesystem::path sibling = self.parent_path() / kLocalBinaryName;
    if (::access(sibling.c_str(), X_OK) == 0) return sibling.string();
  }
  return kLocalBinaryName;
}

// Replaces the process with prunectl-local and the original arguments.
// Returns only on failure.
void ExecLocal(CliContext& ctx, int argc, char** argv) {
  const std::string binary = LocalBinary();
  std::vector<char*> args;
  args.push_back(const_cast<char*>(binary.c_str()));
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  std::fflush(nullptr);
  ::execvp(binary.c_str(), args.data());
  std::fprintf(stderr,
               "prunectl: cannot run %s (%s); it is built and installed "
               "beside prunectl and runs the commands that need LibTorch\n",
               binary.c_str(), std::strerror(errno));
  ctx.exit_code = 127;
}

void AddForwarder(CLI::App& app, const char* name, const char* help,
                  CliContext& ctx, int argc, char** argv) {
  CLI::App* cmd = app.add_subcommand(name, help);
  // Everything after the command, --help included, is prunectl-local's.
  cmd->prefix_command();
  cmd->fallthrough(false);
  cmd->set_help_flag();
  cmd->callback([&ctx, argc, argv] { ExecLocal(ctx, argc, argv); });
}

}  // namespace

void RegisterLocalForwarders(CLI::App& app, CliContext& ctx, int argc,
                             char** argv) {
  AddForwarder(app, "zoo", kZooCommandHelp, ctx, argc, argv);
  AddForwarder(app, "prune", kPruneCommandHelp, ctx, argc, argv);
}

}  // namespace pruneserve::client
