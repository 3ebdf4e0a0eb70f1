// Fuzzes ReadXmodel: any bytes give a summary or an error, never a crash,
// and a summary is internally consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "core/xmodel/xmodel_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto summary = pruneserve::xmodel::ReadXmodel(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  if (summary.ok()) {
    if (summary->op_count < 0 || summary->parameter_count < 0 ||
        summary->DpuPartitionCount() >
            static_cast<int64_t>(summary->partitions.size())) {
      std::abort();
    }
  }
  return 0;
}
