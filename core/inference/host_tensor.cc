#include "core/inference/host_tensor.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pruneserve::inference {

std::optional<DataType> DataTypeFromName(absl::string_view name) {
  if (name == "FP32") return DataType::kFp32;
  if (name == "FP64") return DataType::kFp64;
  if (name == "UINT8") return DataType::kUint8;
  if (name == "INT8") return DataType::kInt8;
  if (name == "INT32") return DataType::kInt32;
  if (name == "INT64") return DataType::kInt64;
  return std::nullopt;
}

const char* DataTypeName(DataType type) {
  switch (type) {
    case DataType::kFp32:
      return "FP32";
    case DataType::kFp64:
      return "FP64";
    case DataType::kUint8:
      return "UINT8";
    case DataType::kInt8:
      return "INT8";
    case DataType::kInt32:
      return "INT32";
    case DataType::kInt64:
      return "INT64";
  }
  return "?";
}

int64_t DataTypeSize(DataType type) {
  switch (type) {
    case DataType::kUint8:
    case DataType::kInt8:
      return 1;
    case DataType::kFp32:
    case DataType::kInt32:
      return 4;
    case DataType::kFp64:
    case DataType::kInt64:
      return 8;
  }
  return 1;
}

int64_t HostTensor::element_count() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::StatusOr<int64_t> ElementCount(absl::Span<const int64_t> shape,
                                     int64_t limit) {
  // `bound` counts every dim as at least 1: a zero dim must not stop the
  // overflow check for the dims after it ([0, 2^40, 2^40] is refused).
  int64_t n = 1;
  int64_t bound = 1;
  for (int64_t d : shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", ShapeToString(shape), " has a negative dim"));
    }
    const int64_t factor = std::max<int64_t>(d, 1);
    if (bound > limit / factor) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shape ", ShapeToString(shape), " exceeds ", limit, " elements"));
    }
    bound *= factor;
    n *= d;
  }
  return n;
}

std::string ShapeToString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

absl::StatusOr<HostTensor> ConcatBatch(
    const std::vector<const HostTensor*>& parts) {
  if (parts.empty()) return absl::InvalidArgumentError("nothing to batch");
  const HostTensor& first = *parts[0];
  if (first.shape.empty()) {
    return absl::InvalidArgumentError("cannot batch a scalar tensor");
  }
  HostTensor out;
  out.name = first.name;
  out.dtype = first.dtype;
  out.shape = first.shape;
  out.shape[0] = 0;
  size_t total = 0;
  for (const HostTensor* p : parts) total += p->bytes.size();
  out.bytes.reserve(total);
  for (const HostTensor* p : parts) {
    if (p->dtype != first.dtype || p->shape.size() != first.shape.size() ||
        !std::equal(p->shape.begin() + 1, p->shape.end(),
                    first.shape.begin() + 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot batch ", DataTypeName(p->dtype), ShapeToString(p->shape),
          " with ", DataTypeName(first.dtype), ShapeToString(first.shape)));
    }
    out.shape[0] += p->shape[0];
    out.bytes.append(p->bytes);
  }
  return out;
}

absl::StatusOr<std::vector<HostTensor>> SplitBatch(
    const HostTensor& tensor, const std::vector<int64_t>& sizes) {
  int64_t sum = 0;
  for (int64_t s : sizes) sum += s;
  if (tensor.shape.empty() || sum != tensor.shape[0]) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot split ", ShapeToString(tensor.shape), " into ", sum, " rows"));
  }
  const int64_t row_bytes =
      tensor.shape[0] == 0
          ? 0
          : static_cast<int64_t>(tensor.bytes.size()) / tensor.shape[0];
  std::vector<HostTensor> out;
  int64_t offset = 0;
  for (int64_t s : sizes) {
    HostTensor piece;
    piece.name = tensor.name;
    piece.dtype = tensor.dtype;
    piece.shape = tensor.shape;
    piece.shape[0] = s;
    piece.bytes = tensor.bytes.substr(offset * row_bytes, s * row_bytes);
    offset += s;
    out.push_back(std::move(piece));
  }
  return out;
}

namespace {

template <typename T>
std::string ToFloatBytes(const std::string& bytes) {
  const size_t n = bytes.size() / sizeof(T);
  std::string out(n * sizeof(float), '\0');
  const T* src = reinterpret_cast<const T*>(bytes.data());
  float* dst = reinterpret_cast<float*>(out.data());
  for (size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
  return out;
}

}  // namespace

HostTensor CastToFloat32(HostTensor tensor) {
  switch (tensor.dtype) {
    case DataType::kFp32:
      return tensor;
    case DataType::kFp64:
      tensor.bytes = ToFloatBytes<double>(tensor.bytes);
      break;
    case DataType::kUint8:
      tensor.bytes = ToFloatBytes<uint8_t>(tensor.bytes);
      break;
    case DataType::kInt8:
      tensor.bytes = ToFloatBytes<int8_t>(tensor.bytes);
      break;
    case DataType::kInt32:
      tensor.bytes = ToFloatBytes<int32_t>(tensor.bytes);
      break;
    case DataType::kInt64:
      tensor.bytes = ToFloatBytes<int64_t>(tensor.bytes);
      break;
  }
  tensor.dtype = DataType::kFp32;
  return tensor;
}

}  // namespace pruneserve::inference
