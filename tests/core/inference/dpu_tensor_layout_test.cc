// The VART backend's host-side helpers: int8 quantization with fix_points,
// NCHW <-> NHWC, and chunking a request batch to the runner's batch.
#include "core/inference/dpu_tensor_layout.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace pruneserve::inference {
namespace {

TEST(DpuTensorLayoutTest, QuantizesWithInputFixPoint) {
  const std::vector<float> in = {0.0f,  0.3f,      -0.3f,      0.5f,
                                 -0.5f, 1.0f,      -1.0f,      2.0f,
                                 -2.0f, 0.015625f, 0.0078125f, -0.0078125f};
  std::vector<int8_t> out(in.size());
  ASSERT_TRUE(QuantizeToInt8(in, /*fix_point=*/6, absl::MakeSpan(out)).ok());
  // x * 64: 0, 19.2, -19.2, 32, -32, 64, -64, 128 (saturates), -128,
  // 1, 0.5 (tie up), -0.5 (tie up to 0).
  EXPECT_THAT(out, ::testing::ElementsAre(0, 19, -19, 32, -32, 64, -64, 127,
                                          -128, 1, 1, 0));
  std::vector<int8_t> coarse(2);
  ASSERT_TRUE(
      QuantizeToInt8({300.0f, -1000.0f}, -1, absl::MakeSpan(coarse)).ok());
  EXPECT_THAT(coarse, ::testing::ElementsAre(127, -128));
  std::vector<int8_t> wrong(3);
  EXPECT_EQ(QuantizeToInt8(in, 6, absl::MakeSpan(wrong)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DpuTensorLayoutTest, DequantizesWithOutputFixPoint) {
  const std::vector<int8_t> in = {0, 1, -1, 127, -128, 64};
  std::vector<float> out(in.size());
  ASSERT_TRUE(
      DequantizeFromInt8(in, /*fix_point=*/4, absl::MakeSpan(out)).ok());
  EXPECT_THAT(out, ::testing::ElementsAre(0.0f, 0.0625f, -0.0625f, 7.9375f,
                                          -8.0f, 4.0f));
  ASSERT_TRUE(DequantizeFromInt8(in, -2, absl::MakeSpan(out)).ok());
  EXPECT_THAT(
      out, ::testing::ElementsAre(0.0f, 4.0f, -4.0f, 508.0f, -512.0f, 256.0f));
  std::vector<float> wrong(1);
  EXPECT_EQ(DequantizeFromInt8(in, 0, absl::MakeSpan(wrong)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DpuTensorLayoutTest, NchwNhwcRoundTrip) {
  const ImageDims d{2, 3, 2, 2};
  std::vector<float> nchw(d.elements());
  std::iota(nchw.begin(), nchw.end(), 0.0f);
  std::vector<float> nhwc(d.elements());
  ASSERT_TRUE(NchwToNhwc<float>(nchw, d, absl::MakeSpan(nhwc)).ok());
  // Image 0: channel planes {0..3}, {4..7}, {8..11} interleave per pixel.
  EXPECT_THAT(std::vector<float>(nhwc.begin(), nhwc.begin() + 12),
              ::testing::ElementsAre(0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11));
  EXPECT_EQ(nhwc[12], 12.0f);
  EXPECT_EQ(nhwc[13], 16.0f);
  std::vector<float> back(d.elements());
  ASSERT_TRUE(NhwcToNchw<float>(nhwc, d, absl::MakeSpan(back)).ok());
  EXPECT_EQ(back, nchw);

  std::vector<int8_t> i8 = {1, 2, 3, 4, 5, 6};  // [1, 2, 1, 3]
  std::vector<int8_t> o8(6);
  ASSERT_TRUE(
      NchwToNhwc<int8_t>(i8, ImageDims{1, 2, 1, 3}, absl::MakeSpan(o8)).ok());
  EXPECT_THAT(o8, ::testing::ElementsAre(1, 4, 2, 5, 3, 6));
  EXPECT_EQ(NchwToNhwc<float>(nchw, ImageDims{2, 3, 2, 3}, absl::MakeSpan(nhwc))
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DpuTensorLayoutTest, PlansChunksWithPaddedTail) {
  auto chunks = PlanBatchChunks(7, 3);
  ASSERT_TRUE(chunks.ok());
  ASSERT_EQ(chunks->size(), 3u);
  EXPECT_EQ((*chunks)[0].first_row, 0);
  EXPECT_EQ((*chunks)[0].rows, 3);
  EXPECT_EQ((*chunks)[0].padding, 0);
  EXPECT_EQ((*chunks)[2].first_row, 6);
  EXPECT_EQ((*chunks)[2].rows, 1);
  EXPECT_EQ((*chunks)[2].padding, 2);
  auto exact = PlanBatchChunks(4, 4);
  ASSERT_TRUE(exact.ok());
  ASSERT_EQ(exact->size(), 1u);
  EXPECT_EQ(exact->front().padding, 0);
  auto small = PlanBatchChunks(1, 8);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->front().padding, 7);
  EXPECT_EQ(PlanBatchChunks(0, 3).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanBatchChunks(3, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DpuTensorLayoutTest, FillAndScatterRestoreTheRequest) {
  // 5 rows of 2 values through a runner of batch 2: the identity "runner"
  // must give back exactly the request, padding dropped.
  const int64_t row = 2;
  std::vector<int8_t> request = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  std::vector<int8_t> response(request.size(), -1);
  auto chunks = PlanBatchChunks(5, 2);
  ASSERT_TRUE(chunks.ok());
  std::vector<int8_t> runner(2 * row);
  for (const BatchChunk& c : *chunks) {
    ASSERT_TRUE(
        FillChunk<int8_t>(request, row, c, absl::MakeSpan(runner)).ok());
    if (c.padding > 0) {
      EXPECT_THAT(runner, ::testing::ElementsAre(9, 10, 0, 0));
    }
    ASSERT_TRUE(
        ScatterChunk<int8_t>(runner, row, c, absl::MakeSpan(response)).ok());
  }
  EXPECT_EQ(response, request);

  std::vector<float> too_small(3);
  std::vector<float> runner_f(4);
  EXPECT_EQ(FillChunk<float>(too_small, row, BatchChunk{1, 1, 1},
                             absl::MakeSpan(runner_f))
                .code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<float> wrong_runner(3);
  std::vector<float> req(4);
  EXPECT_EQ(FillChunk<float>(req, row, BatchChunk{0, 1, 1},
                             absl::MakeSpan(wrong_runner))
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pruneserve::inference
