#include "core/auth/token_store.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace pruneserve::auth {

absl::StatusOr<std::unique_ptr<TokenStore>> TokenStore::Create(
    TokenStoreOptions options) {
  auto store = std::unique_ptr<TokenStore>(new TokenStore(std::move(options)));
  auto entries = store->ReadEntries();
  if (!entries.ok()) return entries.status();
  absl::MutexLock lock(&store->mu_);
  store->entries_ = *std::move(entries);
  return store;
}

absl::StatusOr<std::vector<TokenStore::Entry>> TokenStore::ReadEntries() const {
  std::ifstream in(options_.path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read the tokens file ", options_.path));
  }
  std::stringstream contents;
  contents << in.rdbuf();
  auto records = ParseTokenFile(contents.str());
  if (!records.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options_.path, ": ", records.status().message()));
  }
  if (records->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options_.path, " lists no token"));
  }
  std::vector<Entry> entries;
  for (TokenRecord& r : *records) {
    Entry e;
    const std::string bytes = absl::HexStringToBytes(r.sha256_hex);
    std::copy(bytes.begin(), bytes.end(), e.digest.begin());
    e.caller = Caller{std::move(r.name), r.role};
    entries.push_back(std::move(e));
  }
  return entries;
}

absl::Status TokenStore::Reload() {
  auto entries = ReadEntries();
  if (!entries.ok()) return entries.status();
  absl::MutexLock lock(&mu_);
  entries_ = *std::move(entries);
  return absl::OkStatus();
}

std::optional<Caller> TokenStore::Authenticate(absl::string_view token) const {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(),
         digest);
  absl::ReaderMutexLock lock(&mu_);
  const Entry* match = nullptr;
  // Every entry is compared, whatever matched, with a constant-time compare.
  for (const Entry& e : entries_) {
    const bool equal =
        CRYPTO_memcmp(digest, e.digest.data(), sizeof(digest)) == 0;
    if (equal) match = &e;
  }
  if (match == nullptr || token.empty()) return std::nullopt;
  return match->caller;
}

size_t TokenStore::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return entries_.size();
}

std::optional<absl::string_view> BearerToken(absl::string_view header) {
  header = absl::StripAsciiWhitespace(header);
  constexpr absl::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size() ||
      !absl::StartsWithIgnoreCase(header, kScheme)) {
    return std::nullopt;
  }
  absl::string_view token =
      absl::StripAsciiWhitespace(header.substr(kScheme.size()));
  if (token.empty()) return std::nullopt;
  return token;
}

}  // namespace pruneserve::auth
