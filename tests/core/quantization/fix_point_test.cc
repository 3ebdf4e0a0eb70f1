// Exact checks of the power-of-two fixed-point conventions: fix_point from a
// range, DPU rounding (ties up), saturation, percentile, MSE search.
#include "core/quantization/fix_point.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace pruneserve::quantization {
namespace {

TEST(FixPointTest, FixPointForRangeIsLargestWithoutSaturation) {
  EXPECT_EQ(FixPointForRange(1.0), 6);  // 1.0 * 2^7 = 128 > 127
  EXPECT_EQ(FixPointForRange(127.0 / 128.0), 7);
  EXPECT_EQ(FixPointForRange(0.5), 7);
  EXPECT_EQ(FixPointForRange(127.0 / 64.0), 6);  // exactly 127 at 2^6
  EXPECT_EQ(FixPointForRange(127.0 / 64.0 + 1e-9), 5);
  EXPECT_EQ(FixPointForRange(127.0), 0);
  EXPECT_EQ(FixPointForRange(128.0), -1);
  EXPECT_EQ(FixPointForRange(1000.0), -3);               // 1000/8 = 125 <= 127
  EXPECT_EQ(FixPointForRange(1.0, /*bit_width=*/4), 2);  // 1 * 4 <= 7
  EXPECT_EQ(FixPointForRange(1.0, /*bit_width=*/16), 14);
}

TEST(FixPointTest, FixPointForDegenerateRanges) {
  EXPECT_EQ(FixPointForRange(0.0), kMaxFixPoint);
  EXPECT_EQ(FixPointForRange(-1.0), kMaxFixPoint);
  EXPECT_EQ(FixPointForRange(std::nan("")), kMaxFixPoint);
  EXPECT_EQ(FixPointForRange(1e-300), kMaxFixPoint);
  EXPECT_EQ(FixPointForRange(1e300), kMinFixPoint);
  EXPECT_EQ(FixPointForRange(std::numeric_limits<double>::infinity()),
            kMinFixPoint);
}

TEST(FixPointTest, RoundingTiesGoUp) {
  EXPECT_EQ(RoundHalfUp(0.5), 1.0);
  EXPECT_EQ(RoundHalfUp(-0.5), 0.0);
  EXPECT_EQ(RoundHalfUp(1.5), 2.0);
  EXPECT_EQ(RoundHalfUp(2.5), 3.0);
  EXPECT_EQ(RoundHalfUp(-1.5), -1.0);
  EXPECT_EQ(RoundHalfUp(-2.5), -2.0);
  EXPECT_EQ(RoundHalfUp(-2.6), -3.0);
  EXPECT_EQ(RoundHalfUp(2.4999), 2.0);
  // The largest double below 0.5: floor(x + 0.5) would give 1.
  EXPECT_EQ(RoundHalfUp(std::nextafter(0.5, 0.0)), 0.0);
}

TEST(FixPointTest, QuantizeValueRoundsAndSaturates) {
  EXPECT_EQ(QuantizeValue(0.3, 4), 5);  // 4.8
  EXPECT_DOUBLE_EQ(DequantizeValue(5, 4), 0.3125);
  EXPECT_EQ(QuantizeValue(0.5, 0), 1);
  EXPECT_EQ(QuantizeValue(-0.5, 0), 0);
  EXPECT_EQ(QuantizeValue(-2.5, 0), -2);
  EXPECT_EQ(QuantizeValue(0.75, 1), 2);    // 1.5 ties up
  EXPECT_EQ(QuantizeValue(-0.75, 1), -1);  // -1.5 ties up
  EXPECT_EQ(QuantizeValue(1000.0, 0), 127);
  EXPECT_EQ(QuantizeValue(-1000.0, 0), -128);
  EXPECT_EQ(QuantizeValue(1.0, 7), 127);    // 128 saturates
  EXPECT_EQ(QuantizeValue(-1.0, 7), -128);  // -128 fits
  EXPECT_EQ(QuantizeValue(200.0, -1), 100);
  EXPECT_EQ(QuantizeValue(std::nan(""), 3), 0);
  EXPECT_EQ(QuantizeValue(10.0, 0, /*bit_width=*/4), 7);
  EXPECT_EQ(QuantizeValue(-10.0, 0, /*bit_width=*/4), -8);
  EXPECT_DOUBLE_EQ(FakeQuantizeValue(1.0, 7), 127.0 / 128.0);
  EXPECT_DOUBLE_EQ(FakeQuantizeValue(-3.3, 2), -3.25);
  EXPECT_EQ(QuantMin(8), -128);
  EXPECT_EQ(QuantMax(8), 127);
}

TEST(FixPointTest, ParsesCalibrationMethods) {
  EXPECT_EQ(*ParseCalibrationMethod("max"), CalibrationMethod::kMax);
  EXPECT_EQ(*ParseCalibrationMethod("Percentile"),
            CalibrationMethod::kPercentile);
  EXPECT_EQ(*ParseCalibrationMethod("MSE"), CalibrationMethod::kMse);
  auto bad = ParseCalibrationMethod("kl");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("max, percentile, mse"),
            std::string::npos);
  EXPECT_STREQ(CalibrationMethodName(CalibrationMethod::kMse), "mse");
}

TEST(FixPointTest, PercentileIsNearestRankOfAbsoluteValues) {
  std::vector<float> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i % 2 ? -i : i);
  EXPECT_EQ(PercentileAbs(v, 100.0), 100.0);
  EXPECT_EQ(PercentileAbs(v, 99.0), 99.0);
  EXPECT_EQ(PercentileAbs(v, 50.0), 50.0);
  EXPECT_EQ(PercentileAbs(v, 50.5), 51.0);
  EXPECT_EQ(PercentileAbs(v, 0.001), 1.0);
  EXPECT_EQ(PercentileAbs({}, 50.0), 0.0);
  EXPECT_EQ(MaxAbs(v), 100.0);
}

TEST(FixPointTest, MseAndSnr) {
  const std::vector<float> exact = {1.0f, -0.5f, 0.25f};
  EXPECT_EQ(QuantizationMse(exact, 6), 0.0);
  EXPECT_TRUE(std::isinf(QuantizationSnrDb(exact, 6)));
  const std::vector<float> one = {0.3f};
  // 0.3f * 256 = 76.8 -> 77 -> 0.30078125.
  const double err = 77.0 / 256.0 - static_cast<double>(0.3f);
  EXPECT_DOUBLE_EQ(QuantizationMse(one, 8), err * err);
  EXPECT_NEAR(QuantizationSnrDb(one, 8), 10 * std::log10(0.09 / (err * err)),
              1e-4);
}

TEST(FixPointTest, MseSearchTradesOutlierClippingForResolution) {
  // Many small values and one outlier: max keeps the outlier, MSE clips it.
  std::vector<float> v;
  for (int i = 0; i < 1000; ++i) v.push_back(0.0013f * ((i % 17) - 8));
  v.push_back(1.0f);
  const double max_abs = MaxAbs(v);
  const int f_max = FixPointForRange(max_abs);
  EXPECT_EQ(f_max, 6);
  const int f_mse = MseFixPoint(v, max_abs);
  EXPECT_GT(f_mse, f_max);
  EXPECT_LE(f_mse, f_max + kMseSearchSteps);
  EXPECT_LT(QuantizationMse(v, f_mse), QuantizationMse(v, f_max));

  const FixPointChoice c_max =
      ChooseFixPoint(CalibrationMethod::kMax, v, max_abs, 99.0);
  const FixPointChoice c_pct =
      ChooseFixPoint(CalibrationMethod::kPercentile, v, max_abs, 99.0);
  const FixPointChoice c_mse =
      ChooseFixPoint(CalibrationMethod::kMse, v, max_abs, 99.0);
  EXPECT_EQ(c_max.fix_point, 6);
  EXPECT_EQ(c_max.range, 1.0);
  EXPECT_NEAR(c_pct.range, 0.0013 * 8, 1e-7);  // the outlier is > 99 %
  EXPECT_EQ(c_pct.fix_point, FixPointForRange(c_pct.range));
  EXPECT_EQ(c_mse.fix_point, f_mse);
  EXPECT_DOUBLE_EQ(c_mse.range, 127.0 * std::ldexp(1.0, -f_mse));
}

TEST(FixPointTest, MseSearchKeepsMaxWhenNothingIsGained) {
  // Uniform values filling the max-derived range: clipping only hurts.
  std::vector<float> v;
  for (int i = -100; i <= 100; ++i) v.push_back(1.98f * i / 100.0f);
  EXPECT_EQ(FixPointForRange(MaxAbs(v)), 6);
  EXPECT_EQ(MseFixPoint(v, MaxAbs(v)), 6);
  // Empty samples fall back to the max method.
  EXPECT_EQ(
      ChooseFixPoint(CalibrationMethod::kPercentile, {}, 1.0, 50.0).fix_point,
      6);
}

}  // namespace
}  // namespace pruneserve::quantization
