// Numeric tests of the transform building blocks on tiny tensors, and of the
// pipeline's determinism and ordering.
#include "core/data/transforms.h"

#include <algorithm>
#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pruneserve::data {
namespace {

torch::Tensor T(std::vector<float> values, std::vector<int64_t> shape) {
  return torch::tensor(values).view(shape);
}

TEST(TransformsTest, ResizeBilinearMatchesHandComputedValues) {
  // [0, 1] upsampled to width 4 with half-pixel centres: source positions
  // -0.25, 0.25, 0.75, 1.25 → clamped interpolation 0, 0.25, 0.75, 1.
  torch::Tensor x = T({0, 1, 0, 1}, {1, 2, 2});
  torch::Tensor y = ResizeBilinear(x, 2, 4);
  EXPECT_TRUE(torch::allclose(y[0][0], torch::tensor({0.f, 0.25f, 0.75f, 1.f})))
      << y;
  // Downsampling 4 → 2 averages neighbour pairs at these positions.
  torch::Tensor z = ResizeBilinear(T({0, 2, 4, 6}, {1, 1, 4}), 1, 2);
  EXPECT_TRUE(torch::allclose(z.flatten(), torch::tensor({1.f, 5.f}))) << z;
}

TEST(TransformsTest, PadCropFlip) {
  torch::Tensor x = T({1, 2, 3, 4}, {1, 2, 2});
  torch::Tensor p = PadZeros(x, 1);
  EXPECT_EQ(p.sizes(), (std::vector<int64_t>{1, 4, 4}));
  EXPECT_EQ(p.sum().item<float>(), 10.f);
  EXPECT_EQ(p[0][1][1].item<float>(), 1.f);
  EXPECT_EQ(p[0][0][0].item<float>(), 0.f);
  torch::Tensor c = Crop(p, 1, 2, 2, 2);  // rows 1-2, cols 2-3
  EXPECT_TRUE(torch::equal(c, T({2, 0, 4, 0}, {1, 2, 2}))) << c;
  EXPECT_TRUE(torch::equal(FlipHorizontal(x), T({2, 1, 4, 3}, {1, 2, 2})));
}

TEST(TransformsTest, NormalizeAndRepeatChannels) {
  torch::Tensor x = T({0.5, 1.0}, {1, 1, 2});
  torch::Tensor rgb = RepeatChannels(x, 3);
  EXPECT_EQ(rgb.sizes(), (std::vector<int64_t>{3, 1, 2}));
  EXPECT_TRUE(torch::equal(rgb[2], x[0]));
  torch::Tensor n = Normalize(rgb, {0.5, 0.0, 1.0}, {0.5, 2.0, 1.0});
  EXPECT_TRUE(torch::allclose(
      n.flatten(), torch::tensor({0.f, 1.f, 0.25f, 0.5f, -0.5f, 0.f})))
      << n;
}

TEST(ImageTransformTest, PipelineOrderOnAGrayImage) {
  TransformOptions o;
  o.channels = 3;
  o.resize = 4;
  o.pad = 1;
  o.mean = {0.5};
  o.std = {0.5};
  auto t = ImageTransform::Create(o);
  ASSERT_TRUE(t.ok()) << t.status();
  torch::Tensor img = torch::full({1, 2, 2}, 255, torch::kUInt8);
  auto y = t->Apply(img, 0);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->sizes(), (std::vector<int64_t>{3, 6, 6}));
  EXPECT_EQ(y->scalar_type(), torch::kFloat);
  // Interior: (1 - 0.5) / 0.5 = 1; padding: (0 - 0.5) / 0.5 = -1.
  EXPECT_FLOAT_EQ((*y)[1][3][3].item<float>(), 1.f);
  EXPECT_FLOAT_EQ((*y)[2][0][0].item<float>(), -1.f);
}

TEST(ImageTransformTest, RandomCropAndFlipAreDeterministicPerSeed) {
  TransformOptions o;
  o.random_crop_padding = 2;
  o.random_horizontal_flip = true;
  auto t = ImageTransform::Create(o);
  ASSERT_TRUE(t.ok());
  torch::Tensor img = torch::arange(16, torch::kUInt8).view({1, 4, 4});
  std::set<std::vector<float>> distinct;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    auto a = t->Apply(img, seed);
    auto b = t->Apply(img, seed);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_TRUE(torch::equal(*a, *b));
    EXPECT_EQ(a->sizes(), (std::vector<int64_t>{1, 4, 4}));
    torch::Tensor flat = a->flatten().contiguous();
    distinct.insert(std::vector<float>(flat.data_ptr<float>(),
                                       flat.data_ptr<float>() + 16));
  }
  // 25 offsets x 2 flips; 40 seeds should hit many of them.
  EXPECT_GT(distinct.size(), 15u);
}

TEST(ImageTransformTest, RejectsBadOptionsAndImages) {
  TransformOptions o;
  o.mean = {0.5, 0.5};
  o.std = {0.5};
  EXPECT_EQ(ImageTransform::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.std = {0.5, 0.0};
  EXPECT_EQ(ImageTransform::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  TransformOptions to_three;
  to_three.channels = 3;
  auto t = ImageTransform::Create(to_three);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->Apply(torch::zeros({2, 4, 4}, torch::kUInt8), 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t->Apply(torch::zeros({1, 4, 4}), 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EpochOrderTest, PermutationDependsOnSeedAndEpoch) {
  auto identity = EpochOrder(10, false, 1, 0);
  EXPECT_THAT(identity, ::testing::ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
  auto a = EpochOrder(100, true, 1, 0);
  EXPECT_EQ(a, EpochOrder(100, true, 1, 0));
  EXPECT_NE(a, EpochOrder(100, true, 1, 1));
  EXPECT_NE(a, EpochOrder(100, true, 2, 0));
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, EpochOrder(100, false, 0, 0));
  EXPECT_NE(ExampleSeed(1, 0, 5), ExampleSeed(1, 1, 5));
  EXPECT_NE(ExampleSeed(1, 0, 5), ExampleSeed(1, 0, 6));
}

}  // namespace
}  // namespace pruneserve::data
