// The host-side data handling of DPU inference, free of VART and LibTorch so
// it is compiled and tested everywhere: quantizing float inputs with the
// input tensor's fix_point, dequantizing int8 outputs with the output's,
// NCHW <-> NHWC (the DPU's layout), and cutting a request batch of any size
// into runner-sized chunks (the runner's batch is fixed by the xmodel) with
// the last chunk zero-padded, then stitching the outputs back together.
// The fixed-point conventions (DPU rounding, ties up) are those of
// core/quantization/fix_point.h.
#ifndef PRUNESERVE_CORE_INFERENCE_DPU_TENSOR_LAYOUT_H_
#define PRUNESERVE_CORE_INFERENCE_DPU_TENSOR_LAYOUT_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace pruneserve::inference {

// out[i] = clamp(round(in[i] * 2^fix_point), -128, 127). `out` must have
// in.size() elements (INVALID_ARGUMENT otherwise).
absl::Status QuantizeToInt8(absl::Span<const float> in, int fix_point,
                            absl::Span<int8_t> out);

// out[i] = in[i] * 2^-fix_point. INVALID_ARGUMENT on a size mismatch.
absl::Status DequantizeFromInt8(absl::Span<const int8_t> in, int fix_point,
                                absl::Span<float> out);

// Dims of a 4-d image tensor.
struct ImageDims {
  int64_t n = 0;
  int64_t c = 0;
  int64_t h = 0;
  int64_t w = 0;
  int64_t elements() const { return n * c * h * w; }
};

// Reorders [N, C, H, W] into [N, H, W, C] and back. INVALID_ARGUMENT when
// either span's size differs from dims.elements(). T is float or int8_t.
template <typename T>
absl::Status NchwToNhwc(absl::Span<const T> in, const ImageDims& dims,
                        absl::Span<T> out);
template <typename T>
absl::Status NhwcToNchw(absl::Span<const T> in, const ImageDims& dims,
                        absl::Span<T> out);

// One runner execution: rows [first_row, first_row + rows) of the request,
// followed by `padding` zero rows so the chunk fills the runner's batch.
struct BatchChunk {
  int64_t first_row = 0;
  int64_t rows = 0;
  int64_t padding = 0;
};

// Splits `request_rows` (>= 1) into chunks of `runner_batch` (>= 1) rows;
// only the last may be padded. INVALID_ARGUMENT for non-positive sizes.
absl::StatusOr<std::vector<BatchChunk>> PlanBatchChunks(int64_t request_rows,
                                                        int64_t runner_batch);

// Copies `chunk`'s rows of `request` (rows of `row_elements` values) into
// `runner_input` (runner_batch rows) and zero-fills the padding rows.
// INVALID_ARGUMENT when the spans do not fit the chunk.
template <typename T>
absl::Status FillChunk(absl::Span<const T> request, int64_t row_elements,
                       const BatchChunk& chunk, absl::Span<T> runner_input);

// Copies the first chunk.rows rows of `runner_output` (the padding rows are
// dropped) to rows [first_row, first_row + rows) of `response`.
// INVALID_ARGUMENT when the spans do not fit the chunk.
template <typename T>
absl::Status ScatterChunk(absl::Span<const T> runner_output,
                          int64_t row_elements, const BatchChunk& chunk,
                          absl::Span<T> response);

}  // namespace pruneserve::inference

#endif  // PRUNESERVE_CORE_INFERENCE_DPU_TENSOR_LAYOUT_H_
