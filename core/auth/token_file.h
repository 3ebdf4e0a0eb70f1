// Bearer tokens and the tokens file the server reads them from. A token is a
// random secret only its holder knows; the server keeps nothing but its
// SHA-256, so a leaked tokens file grants nothing. One line per token:
//
//   # comment
//   <sha256-hex of the token> <role> <name>
//
// Roles: `infer` (inference, model metadata, readiness), `read` (list, show,
// download, jobs), `admin` (everything; implies the other two). Names label
// callers in the audit log and on jobs they submit.
#ifndef PRUNESERVE_CORE_AUTH_TOKEN_FILE_H_
#define PRUNESERVE_CORE_AUTH_TOKEN_FILE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pruneserve::auth {

enum class Role { kInfer, kRead, kAdmin };

// "infer", "read", "admin".
const char* RoleName(Role role);
// nullopt for anything but the three names above.
std::optional<Role> ParseRole(absl::string_view name);
// True when a caller with `have` may do what needs `need`: the same role, or
// admin, which implies the others. `read` does not imply `infer`.
bool RoleGrants(Role have, Role need);

struct TokenRecord {
  // Lower-case hex SHA-256 of the token.
  std::string sha256_hex;
  Role role = Role::kInfer;
  // 1-64 letters, digits, '.', '_', '-', '@'.
  std::string name;
};

// Parses a tokens file. INVALID_ARGUMENT naming the line number and what is
// wrong (bad hash, unknown role, bad name, repeated hash or name); the hash
// itself is never echoed.
absl::StatusOr<std::vector<TokenRecord>> ParseTokenFile(
    absl::string_view contents);

// A fresh token: "pst_" and 64 hex digits from 32 bytes of OpenSSL
// RAND_bytes. INTERNAL when the generator fails.
absl::StatusOr<std::string> GenerateToken();

// The tokens-file line for `token` (hash, role, name), without a newline.
std::string TokenFileLine(absl::string_view token, Role role,
                          absl::string_view name);

// True for a valid token name (see TokenRecord::name).
bool IsValidTokenName(absl::string_view name);

}  // namespace pruneserve::auth

#endif  // PRUNESERVE_CORE_AUTH_TOKEN_FILE_H_
