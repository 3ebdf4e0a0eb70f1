// DPU tensor conversions and batch chunking; see dpu_tensor_layout.h.
#include "core/inference/dpu_tensor_layout.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/quantization/fix_point.h"

namespace pruneserve::inference {
namespace {

absl::Status SizeMismatch(const char* what, size_t got, int64_t want) {
  return absl::InvalidArgumentError(
      absl::StrCat(what, " has ", got, " elements, expected ", want));
}

absl::Status CheckDims(const ImageDims& dims, size_t in, size_t out) {
  if (dims.n < 0 || dims.c < 0 || dims.h < 0 || dims.w < 0) {
    return absl::InvalidArgumentError("negative image dimension");
  }
  if (static_cast<int64_t>(in) != dims.elements()) {
    return SizeMismatch("input", in, dims.elements());
  }
  if (static_cast<int64_t>(out) != dims.elements()) {
    return SizeMismatch("output", out, dims.elements());
  }
  return absl::OkStatus();
}

absl::Status CheckChunk(size_t request, size_t runner, int64_t row_elements,
                        const BatchChunk& chunk) {
  if (row_elements < 0 || chunk.first_row < 0 || chunk.rows < 0 ||
      chunk.padding < 0) {
    return absl::InvalidArgumentError("negative chunk geometry");
  }
  const int64_t runner_want = (chunk.rows + chunk.padding) * row_elements;
  if (static_cast<int64_t>(runner) != runner_want) {
    return SizeMismatch("runner tensor", runner, runner_want);
  }
  if (static_cast<int64_t>(request) <
      (chunk.first_row + chunk.rows) * row_elements) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request tensor has ", request, " elements, chunk needs rows up to ",
        chunk.first_row + chunk.rows, " of ", row_elements));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status QuantizeToInt8(absl::Span<const float> in, int fix_point,
                            absl::Span<int8_t> out) {
  if (in.size() != out.size())
    return SizeMismatch("output", out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    out[i] = static_cast<int8_t>(quantization::QuantizeValue(in[i], fix_point));
  }
  return absl::OkStatus();
}

absl::Status DequantizeFromInt8(absl::Span<const int8_t> in, int fix_point,
                                absl::Span<float> out) {
  if (in.size() != out.size())
    return SizeMismatch("output", out.size(), in.size());
  const float scale =
      static_cast<float>(quantization::FixPointScale(-fix_point));
  for (size_t i = 0; i < in.size(); ++i) out[i] = in[i] * scale;
  return absl::OkStatus();
}

template <typename T>
absl::Status NchwToNhwc(absl::Span<const T> in, const ImageDims& d,
                        absl::Span<T> out) {
  if (auto s = CheckDims(d, in.size(), out.size()); !s.ok()) return s;
  const int64_t hw = d.h * d.w;
  for (int64_t n = 0; n < d.n; ++n) {
    const T* src = in.data() + n * d.c * hw;
    T* dst = out.data() + n * d.c * hw;
    for (int64_t c = 0; c < d.c; ++c) {
      for (int64_t p = 0; p < hw; ++p) dst[p * d.c + c] = src[c * hw + p];
    }
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status NhwcToNchw(absl::Span<const T> in, const ImageDims& d,
                        absl::Span<T> out) {
  if (auto s = CheckDims(d, in.size(), out.size()); !s.ok()) return s;
  const int64_t hw = d.h * d.w;
  for (int64_t n = 0; n < d.n; ++n) {
    const T* src = in.data() + n * d.c * hw;
    T* dst = out.data() + n * d.c * hw;
    for (int64_t p = 0; p < hw; ++p) {
      for (int64_t c = 0; c < d.c; ++c) dst[c * hw + p] = src[p * d.c + c];
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<BatchChunk>> PlanBatchChunks(int64_t request_rows,
                                                        int64_t runner_batch) {
  if (request_rows < 1 || runner_batch < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot split ", request_rows, " rows into batches of ", runner_batch));
  }
  std::vector<BatchChunk> chunks;
  for (int64_t first = 0; first < request_rows; first += runner_batch) {
    BatchChunk c;
    c.first_row = first;
    c.rows = std::min(runner_batch, request_rows - first);
    c.padding = runner_batch - c.rows;
    chunks.push_back(c);
  }
  return chunks;
}

template <typename T>
absl::Status FillChunk(absl::Span<const T> request, int64_t row_elements,
                       const BatchChunk& chunk, absl::Span<T> runner_input) {
  if (auto s =
          CheckChunk(request.size(), runner_input.size(), row_elements, chunk);
      !s.ok()) {
    return s;
  }
  const size_t used = static_cast<size_t>(chunk.rows * row_elements);
  std::copy_n(request.data() + chunk.first_row * row_elements, used,
              runner_input.data());
  std::fill(runner_input.begin() + used, runner_input.end(), T{0});
  return absl::OkStatus();
}

template <typename T>
absl::Status ScatterChunk(absl::Span<const T> runner_output,
                          int64_t row_elements, const BatchChunk& chunk,
                          absl::Span<T> response) {
  if (auto s = CheckChunk(response.size(), runner_output.size(), row_elements,
                          chunk);
      !s.ok()) {
    return s;
  }
  std::copy_n(runner_output.data(), chunk.rows * row_elements,
              response.data() + chunk.first_row * row_elements);
  return absl::OkStatus();
}

#define PRUNESERVE_DPU_LAYOUT_INSTANTIATE(T)                                 \
  template absl::Status NchwToNhwc<T>(absl::Span<const T>, const ImageDims&, \
                                      absl::Span<T>);                        \
  template absl::Status NhwcToNchw<T>(absl::Span<const T>, const ImageDims&, \
                                      absl::Span<T>);                        \
  template absl::Status FillChunk<T>(absl::Span<const T>, int64_t,           \
                                     const BatchChunk&, absl::Span<T>);      \
  template absl::Status ScatterChunk<T>(absl::Span<const T>, int64_t,        \
                                        const BatchChunk&, absl::Span<T>);
PRUNESERVE_DPU_LAYOUT_INSTANTIATE(float)
PRUNESERVE_DPU_LAYOUT_INSTANTIATE(int8_t)
#undef PRUNESERVE_DPU_LAYOUT_INSTANTIATE

}  // namespace pruneserve::inference
