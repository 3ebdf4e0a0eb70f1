// Tensors as the inference path sees them: a KServe datatype, a shape and
// row-major little-endian bytes. Keeping requests in this form (not as
// torch::Tensor) lets the batcher, the gRPC layer and the VART backend work
// without LibTorch, and makes batching a byte concatenation.
#ifndef PRUNESERVE_CORE_INFERENCE_HOST_TENSOR_H_
#define PRUNESERVE_CORE_INFERENCE_HOST_TENSOR_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace pruneserve::inference {

// The KServe v2 datatypes this server computes with.
enum class DataType { kFp32, kFp64, kUint8, kInt8, kInt32, kInt64 };

// "FP32" → kFp32 etc.; nullopt for names this server does not support.
std::optional<DataType> DataTypeFromName(absl::string_view name);
// kFp32 → "FP32".
const char* DataTypeName(DataType type);
// Bytes per element.
int64_t DataTypeSize(DataType type);

struct HostTensor {
  std::string name;
  DataType dtype = DataType::kFp32;
  std::vector<int64_t> shape;
  // Row-major element bytes; size == element_count() * DataTypeSize(dtype).
  std::string bytes;

  int64_t element_count() const;
  int64_t byte_size() const { return element_count() * DataTypeSize(dtype); }
  // Size of dim 0 (the batch), 0 for scalars.
  int64_t batch() const { return shape.empty() ? 0 : shape[0]; }
};

// Product of dims (1 for a scalar). INVALID_ARGUMENT for a negative dim or
// when the dims, each counted as at least 1, pass `limit` elements (so a zero
// dim does not exempt the others).
absl::StatusOr<int64_t> ElementCount(absl::Span<const int64_t> shape,
                                     int64_t limit);

// "[1,3,32,32]".
std::string ShapeToString(absl::Span<const int64_t> shape);

// Concatenates tensors of equal name, dtype and trailing dims along dim 0.
// INVALID_ARGUMENT when they differ.
absl::StatusOr<HostTensor> ConcatBatch(
    const std::vector<const HostTensor*>& parts);

// Splits `tensor` along dim 0 into pieces of `sizes` rows (sum must equal
// the batch). INVALID_ARGUMENT otherwise.
absl::StatusOr<std::vector<HostTensor>> SplitBatch(
    const HostTensor& tensor, const std::vector<int64_t>& sizes);

// Converts UINT8/INT8/INT32/INT64/FP64 values to FP32 (value-preserving, no
// scaling); FP32 is returned unchanged.
HostTensor CastToFloat32(HostTensor tensor);

}  // namespace pruneserve::inference

#endif  // PRUNESERVE_CORE_INFERENCE_HOST_TENSOR_H_
