// TokenStore: the server's view of a tokens file (see token_file.h). Holds
// only SHA-256 digests; a presented token is hashed and compared with every
// digest in constant time, so neither timing nor the file reveals a token.
#ifndef PRUNESERVE_CORE_AUTH_TOKEN_STORE_H_
#define PRUNESERVE_CORE_AUTH_TOKEN_STORE_H_

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "core/auth/token_file.h"

namespace pruneserve::auth {

// Who made a call, as far as its token says.
struct Caller {
  // The token's name from the tokens file.
  std::string name;
  Role role = Role::kInfer;
};

struct TokenStoreOptions {
  // The tokens file; read by Create() and by every Reload().
  std::string path;
};

// Thread-safe. Authenticate() takes a reader lock; Reload() swaps the whole
// set at once, so a call sees either the old or the new file.
class TokenStore {
 public:
  // Reads and parses options.path. NOT_FOUND / PERMISSION_DENIED when the
  // file cannot be read, the parser's INVALID_ARGUMENT otherwise, and
  // INVALID_ARGUMENT when the file lists no token.
  static absl::StatusOr<std::unique_ptr<TokenStore>> Create(
      TokenStoreOptions options);

  // Re-reads the file. On any error the previous tokens stay in force and
  // the error is returned. Blocks on file I/O.
  absl::Status Reload();

  // The caller `token` belongs to, or nullopt. Time depends only on the
  // number of tokens, not on which (if any) matches.
  std::optional<Caller> Authenticate(absl::string_view token) const;

  // Tokens currently loaded.
  size_t size() const;
  const std::string& path() const { return options_.path; }

 private:
  struct Entry {
    std::array<unsigned char, 32> digest;
    Caller caller;
  };
  explicit TokenStore(TokenStoreOptions options)
      : options_(std::move(options)) {}
  absl::StatusOr<std::vector<Entry>> ReadEntries() const;

  const TokenStoreOptions options_;
  mutable absl::Mutex mu_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
};

// The token of an "authorization" header value "Bearer <token>" (scheme
// case-insensitive), or nullopt.
std::optional<absl::string_view> BearerToken(absl::string_view header);

}  // namespace pruneserve::auth

#endif  // PRUNESERVE_CORE_AUTH_TOKEN_STORE_H_
