#include "core/export/npy_writer.h"

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/util/file_util.h"

namespace pruneserve::vitis {
namespace {

// Magic (6) + version (2) + header length (2) + dictionary, padded so the
// data starts on a 64-byte boundary as the format recommends. 128 bytes hold
// any shape this writer produces, so the header can be rewritten in place.
constexpr size_t kHeaderBytes = 128;
constexpr size_t kPreambleBytes = 10;

bool HostIsLittleEndian() {
  const uint16_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

size_t ElementBytes(NpyDType dtype) {
  return dtype == NpyDType::kFloat32 ? 4 : 8;
}

}  // namespace

NpyWriter::NpyWriter(std::string path, std::FILE* file, NpyDType dtype,
                     std::vector<int64_t> inner_shape)
    : path_(std::move(path)),
      file_(file),
      dtype_(dtype),
      inner_shape_(std::move(inner_shape)) {
  for (int64_t d : inner_shape_) row_elements_ *= d;
}

NpyWriter::~NpyWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::StatusOr<std::unique_ptr<NpyWriter>> NpyWriter::Create(
    const std::string& path, NpyDType dtype, std::vector<int64_t> inner_shape) {
  if (!HostIsLittleEndian()) {
    return absl::UnimplementedError(".npy writing needs a little-endian host");
  }
  for (int64_t d : inner_shape) {
    if (d <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(".npy row shape [", absl::StrJoin(inner_shape, ","),
                       "] has a non-positive dimension"));
    }
  }
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return ErrnoToStatus(errno, "create " + path);
  auto writer = std::unique_ptr<NpyWriter>(
      new NpyWriter(path, file, dtype, std::move(inner_shape)));
  absl::Status s = writer->WriteHeader();
  if (!s.ok()) return s;
  return writer;
}

absl::Status NpyWriter::WriteHeader() {
  std::vector<int64_t> shape = {rows_};
  shape.insert(shape.end(), inner_shape_.begin(), inner_shape_.end());
  // A one-element tuple needs its trailing comma in Python syntax.
  std::string shape_text = absl::StrJoin(shape, ", ");
  if (shape.size() == 1) shape_text += ",";
  std::string dict =
      absl::StrCat("{'descr': '", dtype_ == NpyDType::kFloat32 ? "<f4" : "<i8",
                   "', 'fortran_order': False, 'shape': (", shape_text, "), }");
  if (dict.size() + 1 > kHeaderBytes - kPreambleBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(".npy shape (", shape_text, ") is too long to encode"));
  }
  dict.append(kHeaderBytes - kPreambleBytes - 1 - dict.size(), ' ');
  dict.push_back('\n');
  std::string header("\x93NUMPY\x01\x00", 8);
  const uint16_t len = static_cast<uint16_t>(dict.size());
  header.push_back(static_cast<char>(len & 0xff));
  header.push_back(static_cast<char>(len >> 8));
  header += dict;
  if (std::fseek(file_, 0, SEEK_SET) != 0 ||
      std::fwrite(header.data(), 1, header.size(), file_) != header.size()) {
    return ErrnoToStatus(errno, "write .npy header of " + path_);
  }
  return absl::OkStatus();
}

absl::Status NpyWriter::Append(const void* data, int64_t rows) {
  if (file_ == nullptr) {
    return absl::FailedPreconditionError(path_ + " is already finished");
  }
  if (rows < 0) return absl::InvalidArgumentError("negative row count");
  const size_t bytes =
      static_cast<size_t>(rows * row_elements_) * ElementBytes(dtype_);
  if (std::fseek(file_, 0, SEEK_END) != 0 ||
      std::fwrite(data, 1, bytes, file_) != bytes) {
    return ErrnoToStatus(errno, "write " + path_);
  }
  rows_ += rows;
  return absl::OkStatus();
}

absl::Status NpyWriter::Finish() {
  if (file_ == nullptr) {
    return absl::FailedPreconditionError(path_ + " is already finished");
  }
  absl::Status s = WriteHeader();
  if (s.ok() && std::fflush(file_) != 0)
    s = ErrnoToStatus(errno, "flush " + path_);
  if (std::fclose(file_) != 0 && s.ok())
    s = ErrnoToStatus(errno, "close " + path_);
  file_ = nullptr;
  return s;
}

}  // namespace pruneserve::vitis
