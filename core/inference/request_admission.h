// Admission of inference requests: the limits one request may not exceed and
// the check of everything a request declares (input count, datatypes, ranks,
// element counts, decoded bytes) before anything is allocated for its values.
//
// The RPC layer exposes a request through InputSource without copying it;
// ModelManager::Infer looks the model up, admits the declared inputs and only
// then asks the source to decode them, so a hostile request costs no more
// than the limits allow (and an unknown model costs nothing).
#ifndef PRUNESERVE_CORE_INFERENCE_REQUEST_ADMISSION_H_
#define PRUNESERVE_CORE_INFERENCE_REQUEST_ADMISSION_H_

#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/inference/host_tensor.h"

namespace pruneserve::inference {

// Per-request limits. Exceeding max_request_inputs or max_request_rank is
// INVALID_ARGUMENT (no model takes such a request); exceeding
// max_request_elements or max_request_bytes is RESOURCE_EXHAUSTED (the
// server's budget, not the request's form, says no). Each refusal names the
// limit and is counted in pruneserve_admission_refusals_total.
struct RequestLimits {
  // Input tensors in one request (--max_request_inputs).
  int max_inputs = 16;
  // Dimensions of one input tensor (--max_request_rank).
  int max_rank = 8;
  // Elements of all inputs of one request together
  // (--max_request_elements); also bounds the FP32 copy the backend gets.
  int64_t max_elements = int64_t{1} << 25;
  // Bytes of all inputs of one request together, decoded in their own
  // datatypes (--max_request_bytes). Typed INT64 contents sent as 1-byte
  // varints decode to 8x their wire size; this caps that.
  int64_t max_bytes = int64_t{128} << 20;
};

// What a request says about one input before its values are decoded. Views
// into the request; valid while it lives.
struct DeclaredInput {
  absl::string_view name;
  // KServe datatype name as sent ("FP32", ...).
  absl::string_view datatype;
  absl::Span<const int64_t> shape;
};

// An admitted input: its datatype and element count.
struct AdmittedInput {
  DataType dtype = DataType::kFp32;
  int64_t elements = 0;
};

// An inference request in its wire form, decoded one input at a time after
// admission. Implemented by the RPC layer (server/kserve_codec.h). Not
// thread-safe; one call uses it.
class InputSource {
 public:
  virtual ~InputSource() = default;
  // Inputs the request declares.
  virtual int size() const = 0;
  // Input `i` (0 <= i < size()) as declared; allocates nothing.
  virtual DeclaredInput Declared(int i) const = 0;
  // Decodes input `i`, admitted as `admitted`. INVALID_ARGUMENT naming the
  // input when its data holds another number of elements (checked before
  // anything is copied) or a value out of range for its datatype.
  virtual absl::StatusOr<HostTensor> Decode(
      int i, const AdmittedInput& admitted) const = 0;
};

// Checks `count` declared inputs (read through `declared`) against `limits`:
// the count first, then each input's datatype (INVALID_ARGUMENT naming the
// supported ones), rank and dims (negative: INVALID_ARGUMENT), and the
// running totals of elements and bytes. A zero dim does not hide the dims
// after it: every dim counts as at least 1 against max_elements. Errors for
// exceeded limits come from LimitExceededError. Allocates only the result.
absl::StatusOr<std::vector<AdmittedInput>> AdmitInputs(
    int count, absl::FunctionRef<DeclaredInput(int)> declared,
    const RequestLimits& limits);

}  // namespace pruneserve::inference

#endif  // PRUNESERVE_CORE_INFERENCE_REQUEST_ADMISSION_H_
