#include "client/token_commands.h"

#include <memory>

#include "core/auth/token_file.h"
#include "nlohmann/json.hpp"

namespace pruneserve::client {

void RegisterTokenCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* token =
      app.add_subcommand("token", "Make bearer tokens for the server.");
  token->require_subcommand(1);
  auto* cmd = token->add_subcommand(
      "create",
      "Print a new random token and its line for --auth_tokens_file.");
  auto name = std::make_shared<std::string>();
  auto role = std::make_shared<std::string>();
  cmd->add_option("name", *name,
                  "Who the token is for (letters, digits, . _ - @); shown in "
                  "the audit log and on submitted jobs")
      ->required();
  cmd->add_option("--role", *role, "infer, read or admin")
      ->required()
      ->check(CLI::IsMember({"infer", "read", "admin"}));
  cmd->callback([&ctx, name, role] {
    if (!auth::IsValidTokenName(*name)) {
      ctx.Check(absl::InvalidArgumentError(
          "the name must be 1-64 letters, digits, '.', '_', '-' or '@'"));
      return;
    }
    auto secret = auth::GenerateToken();
    if (!ctx.Check(secret.status())) return;
    const std::string line =
        auth::TokenFileLine(*secret, *auth::ParseRole(*role), *name);
    if (ctx.json) {
      nlohmann::json j = {{"name", *name},
                          {"role", *role},
                          {"token", *secret},
                          {"tokens_file_line", line}};
      std::printf("%s\n", j.dump(2).c_str());
      return;
    }
    std::printf(
        "token (give it to %s; it is not stored anywhere):\n  %s\n"
        "line for the server's --auth_tokens_file (then send it SIGHUP):\n"
        "  %s\n",
        name->c_str(), secret->c_str(), line.c_str());
  });
}

}  // namespace pruneserve::client
