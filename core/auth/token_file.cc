#include "core/auth/token_file.h"

#include <openssl/rand.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/util/sha256.h"

namespace pruneserve::auth {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kInfer:
      return "infer";
    case Role::kRead:
      return "read";
    case Role::kAdmin:
      return "admin";
  }
  return "?";
}

std::optional<Role> ParseRole(absl::string_view name) {
  if (name == "infer") return Role::kInfer;
  if (name == "read") return Role::kRead;
  if (name == "admin") return Role::kAdmin;
  return std::nullopt;
}

bool RoleGrants(Role have, Role need) {
  return have == need || have == Role::kAdmin;
}

bool IsValidTokenName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' &&
        c != '_' && c != '-' && c != '@') {
      return false;
    }
  }
  return true;
}

absl::StatusOr<std::vector<TokenRecord>> ParseTokenFile(
    absl::string_view contents) {
  std::vector<TokenRecord> records;
  absl::flat_hash_set<std::string> hashes;
  absl::flat_hash_set<std::string> names;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokens file line ", line_number, ": ", what));
    };
    if (fields.size() != 3) {
      return error("expected \"<sha256-hex> <role> <name>\"");
    }
    if (!IsSha256Hex(fields[0])) {
      return error("the first field is not a 64-digit hex SHA-256");
    }
    std::optional<Role> role = ParseRole(fields[1]);
    if (!role) {
      return error(absl::StrCat("unknown role \"", fields[1],
                                "\" (infer, read or admin)"));
    }
    if (!IsValidTokenName(fields[2])) {
      return error(
          "the name must be 1-64 letters, digits, '.', '_', '-' or '@'");
    }
    TokenRecord record{absl::AsciiStrToLower(fields[0]), *role,
                       std::string(fields[2])};
    if (!hashes.insert(record.sha256_hex).second) {
      return error("the same token hash appears twice");
    }
    if (!names.insert(record.name).second) {
      return error(
          absl::StrCat("the name \"", record.name, "\" appears twice"));
    }
    records.push_back(std::move(record));
  }
  return records;
}

absl::StatusOr<std::string> GenerateToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError("OpenSSL RAND_bytes failed");
  }
  return absl::StrCat(
      "pst_", absl::BytesToHexString(absl::string_view(
                  reinterpret_cast<const char*>(bytes), sizeof(bytes))));
}

std::string TokenFileLine(absl::string_view token, Role role,
                          absl::string_view name) {
  return absl::StrCat(Sha256Hex(token), " ", RoleName(role), " ", name);
}

}  // namespace pruneserve::auth
