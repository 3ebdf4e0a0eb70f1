// Incremental SHA-256 over OpenSSL's EVP interface, used to content-address
// model blobs while they stream in, so no upload is ever held in memory whole.
#ifndef PRUNESERVE_CORE_UTIL_SHA256_H_
#define PRUNESERVE_CORE_UTIL_SHA256_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace pruneserve {

// Not thread-safe; one hasher per stream.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(absl::string_view bytes);
  // Returns the lower-case hex digest. The hasher must not be updated after.
  std::string FinishHex();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Lower-case hex SHA-256 of `bytes`.
std::string Sha256Hex(absl::string_view bytes);

// True when `s` is 64 lower- or upper-case hex digits.
bool IsSha256Hex(absl::string_view s);

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_UTIL_SHA256_H_
