// Streams a NumPy .npy array (format 1.0, little-endian, C order) to disk
// whose leading dimension is not known in advance: rows are appended as they
// arrive and the header, which carries the shape, is rewritten when the
// writer finishes. numpy.load() reads the result directly, which is why the
// export directory uses it for calibration images and labels.
#ifndef PRUNESERVE_CORE_EXPORT_NPY_WRITER_H_
#define PRUNESERVE_CORE_EXPORT_NPY_WRITER_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pruneserve::vitis {

enum class NpyDType {
  kFloat32,  // '<f4'
  kInt64,    // '<i8'
};

// Not thread-safe; one writer per file. The file is complete only after
// Finish() returns OK; a writer destroyed before that leaves a file whose
// header says zero rows.
class NpyWriter {
 public:
  // Creates (truncates) `path`. `inner_shape` is the shape of one row, e.g.
  // {C, H, W} for images or {} for scalar labels; every entry must be > 0.
  // INVALID_ARGUMENT for a bad shape, an errno-derived status when the file
  // cannot be created.
  static absl::StatusOr<std::unique_ptr<NpyWriter>> Create(
      const std::string& path, NpyDType dtype,
      std::vector<int64_t> inner_shape);
  ~NpyWriter();
  NpyWriter(const NpyWriter&) = delete;
  NpyWriter& operator=(const NpyWriter&) = delete;

  // Appends `rows` rows read from `data` (rows * row_elements() elements of
  // the writer's dtype, host byte order, which must be little-endian).
  // Blocks on I/O.
  absl::Status Append(const void* data, int64_t rows);

  // Writes the final header, flushes and closes the file. Blocks on I/O.
  absl::Status Finish();

  int64_t rows() const { return rows_; }
  int64_t row_elements() const { return row_elements_; }

 private:
  NpyWriter(std::string path, std::FILE* file, NpyDType dtype,
            std::vector<int64_t> inner_shape);
  absl::Status WriteHeader();

  const std::string path_;
  std::FILE* file_;
  const NpyDType dtype_;
  const std::vector<int64_t> inner_shape_;
  int64_t row_elements_ = 1;
  int64_t rows_ = 0;
};

}  // namespace pruneserve::vitis

#endif  // PRUNESERVE_CORE_EXPORT_NPY_WRITER_H_
