// Fuzzes ValidateModelName: an accepted name is safe as a path component
// and in a URL (what the repository and the KServe routes use it for).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/repository/model_name.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string name(reinterpret_cast<const char*>(data), size);
  if (!pruneserve::ValidateModelName(name).ok()) return 0;
  if (name.empty() || name == "." || name == ".." ||
      name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos ||
      name.find('\\') != std::string::npos) {
    std::abort();
  }
  for (unsigned char c : name) {
    if (c < 0x21 || c > 0x7e) std::abort();
  }
  return 0;
}
