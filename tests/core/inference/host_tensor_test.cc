#include "core/inference/host_tensor.h"

#include <cstring>

#include "gtest/gtest.h"

namespace pruneserve::inference {
namespace {

HostTensor Floats(std::vector<int64_t> shape, std::vector<float> values) {
  HostTensor t;
  t.name = "x";
  t.shape = std::move(shape);
  t.bytes.assign(reinterpret_cast<const char*>(values.data()),
                 values.size() * sizeof(float));
  return t;
}

std::vector<float> Values(const HostTensor& t) {
  std::vector<float> v(t.bytes.size() / sizeof(float));
  std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
  return v;
}

TEST(HostTensorTest, DataTypeNamesRoundTrip) {
  for (const char* name : {"FP32", "FP64", "UINT8", "INT8", "INT32", "INT64"}) {
    auto type = DataTypeFromName(name);
    ASSERT_TRUE(type.has_value()) << name;
    EXPECT_STREQ(DataTypeName(*type), name);
  }
  EXPECT_FALSE(DataTypeFromName("FP16").has_value());
  EXPECT_FALSE(DataTypeFromName("fp32").has_value());
  EXPECT_EQ(DataTypeSize(DataType::kInt64), 8);
  EXPECT_EQ(DataTypeSize(DataType::kUint8), 1);
}

TEST(HostTensorTest, ElementCountRejectsNegativeAndOverflow) {
  EXPECT_EQ(*ElementCount({2, 3, 4}, 1000), 24);
  EXPECT_EQ(*ElementCount({}, 1000), 1);
  EXPECT_EQ(ElementCount({2, -1}, 1000).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ElementCount({1000, 1000}, 1000).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A zero dim used to end the overflow check: [0, 2^40, 2^40] passed as 0
// elements whatever followed it.
TEST(HostTensorTest, ZeroDimDoesNotExemptTheDimsAfterIt) {
  EXPECT_EQ(*ElementCount({0, 10, 10}, 1000), 0);
  constexpr int64_t kHuge = int64_t{1} << 40;
  auto count = ElementCount({0, kHuge, kHuge}, int64_t{1} << 26);
  EXPECT_EQ(count.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(count.status().message().find("exceeds 67108864 elements"),
            std::string::npos)
      << count.status();
  EXPECT_EQ(ElementCount({1, 0, 2000}, 1000).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HostTensorTest, ConcatThenSplitRestoresRequests) {
  HostTensor a = Floats({1, 2}, {1, 2});
  HostTensor b = Floats({2, 2}, {3, 4, 5, 6});
  auto joined = ConcatBatch({&a, &b});
  ASSERT_TRUE(joined.ok());
  EXPECT_EQ(joined->shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(Values(*joined), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  auto parts = SplitBatch(*joined, {1, 2});
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(Values((*parts)[0]), (std::vector<float>{1, 2}));
  EXPECT_EQ(Values((*parts)[1]), (std::vector<float>{3, 4, 5, 6}));
  EXPECT_EQ((*parts)[1].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(SplitBatch(*joined, {1, 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HostTensorTest, ConcatRejectsMismatchedTrailingDims) {
  HostTensor a = Floats({1, 2}, {1, 2});
  HostTensor b = Floats({1, 3}, {3, 4, 5});
  auto joined = ConcatBatch({&a, &b});
  EXPECT_EQ(joined.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(joined.status().message().find("[1,3]"), std::string::npos);
}

TEST(HostTensorTest, CastToFloatPreservesValues) {
  HostTensor u;
  u.dtype = DataType::kUint8;
  u.shape = {1, 3};
  u.bytes = std::string("\x00\x7f\xff", 3);
  HostTensor f = CastToFloat32(u);
  EXPECT_EQ(f.dtype, DataType::kFp32);
  EXPECT_EQ(Values(f), (std::vector<float>{0, 127, 255}));
  HostTensor s = u;
  s.dtype = DataType::kInt8;
  EXPECT_EQ(Values(CastToFloat32(s)), (std::vector<float>{0, 127, -1}));
}

}  // namespace
}  // namespace pruneserve::inference
