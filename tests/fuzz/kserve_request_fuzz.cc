// Fuzzes the KServe request path before a model runs: the bytes are a
// serialized ModelInferRequest; it is admitted under the default limits and
// every admitted input decoded. A decoded tensor must hold exactly the
// admitted element count, and the admitted totals stay within the limits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/inference/request_admission.h"
#include "inference/grpc_service.pb.h"
#include "server/kserve_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ::inference::ModelInferRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  auto source = pruneserve::KServeInputSource::Create(request);
  if (!source.ok()) return 0;
  const pruneserve::inference::RequestLimits limits;
  auto admitted = pruneserve::inference::AdmitInputs(
      source->size(), [&](int i) { return source->Declared(i); }, limits);
  if (!admitted.ok()) return 0;
  int64_t total = 0;
  for (int i = 0; i < source->size(); ++i) {
    total += (*admitted)[i].elements;
    auto tensor = source->Decode(i, (*admitted)[i]);
    if (tensor.ok() && tensor->element_count() != (*admitted)[i].elements) {
      std::abort();
    }
  }
  if (total > limits.max_elements) std::abort();
  return 0;
}
