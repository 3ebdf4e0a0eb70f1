#include "core/inference/request_admission.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/util/limit_status.h"

namespace pruneserve::inference {

absl::StatusOr<std::vector<AdmittedInput>> AdmitInputs(
    int count, absl::FunctionRef<DeclaredInput(int)> declared,
    const RequestLimits& limits) {
  if (count > limits.max_inputs) {
    return LimitExceededError(
        absl::StatusCode::kInvalidArgument, "max_request_inputs",
        absl::StrCat("request has ", count, " inputs; the limit is ",
                     limits.max_inputs, " (--max_request_inputs)"));
  }
  std::vector<AdmittedInput> out;
  out.reserve(std::max(count, 0));
  int64_t total_elements = 0;
  int64_t total_bytes = 0;
  for (int i = 0; i < count; ++i) {
    const DeclaredInput in = declared(i);
    std::optional<DataType> dtype = DataTypeFromName(in.datatype);
    if (!dtype) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input \"", in.name, "\" has datatype \"", in.datatype,
          "\"; supported are FP32, FP64, UINT8, INT8, INT32, INT64"));
    }
    if (static_cast<int64_t>(in.shape.size()) > limits.max_rank) {
      return LimitExceededError(
          absl::StatusCode::kInvalidArgument, "max_request_rank",
          absl::StrCat("input \"", in.name, "\" has ", in.shape.size(),
                       " dims; the limit is ", limits.max_rank,
                       " (--max_request_rank)"));
    }
    // `bound` multiplies every dim as at least 1, so that a zero dim cannot
    // let the dims after it overflow or escape the limit.
    const int64_t budget = limits.max_elements - total_elements;
    int64_t elements = 1;
    int64_t bound = 1;
    bool over = false;
    for (int64_t d : in.shape) {
      if (d < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("input \"", in.name, "\" has shape ",
                         ShapeToString(in.shape), " with a negative dim"));
      }
      const int64_t factor = std::max<int64_t>(d, 1);
      if (bound > budget / factor) {
        over = true;
        break;
      }
      bound *= factor;
      elements *= d;
    }
    if (over) {
      return LimitExceededError(
          absl::StatusCode::kResourceExhausted, "max_request_elements",
          absl::StrCat("input \"", in.name, "\" ", ShapeToString(in.shape),
                       " takes the request past ", limits.max_elements,
                       " elements (--max_request_elements)"));
    }
    const int64_t size = DataTypeSize(*dtype);
    if (elements > (limits.max_bytes - total_bytes) / size) {
      return LimitExceededError(
          absl::StatusCode::kResourceExhausted, "max_request_bytes",
          absl::StrCat("input \"", in.name, "\" ", in.datatype,
                       ShapeToString(in.shape), " takes the request past ",
                       limits.max_bytes, " bytes (--max_request_bytes)"));
    }
    total_elements += elements;
    total_bytes += elements * size;
    out.push_back({*dtype, elements});
  }
  return out;
}

}  // namespace pruneserve::inference
