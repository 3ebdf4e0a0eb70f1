#include "core/export/npy_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "tests/testing/temp_dir.h"

namespace pruneserve::vitis {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

TEST(NpyWriterTest, WritesHeaderAndRowsInOrder) {
  pruneserve::testing::TempDir dir;
  const std::string path = dir.Join("a.npy");
  auto w = NpyWriter::Create(path, NpyDType::kFloat32, {2, 3});
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->row_elements(), 6);
  std::vector<float> first(12), second(6);
  for (int i = 0; i < 12; ++i) first[i] = static_cast<float>(i);
  for (int i = 0; i < 6; ++i) second[i] = 100.0f + i;
  ASSERT_TRUE((*w)->Append(first.data(), 2).ok());
  ASSERT_TRUE((*w)->Append(second.data(), 1).ok());
  EXPECT_EQ((*w)->rows(), 3);
  ASSERT_TRUE((*w)->Finish().ok());
  EXPECT_EQ((*w)->Finish().code(), absl::StatusCode::kFailedPrecondition);

  const std::string bytes = ReadAll(path);
  ASSERT_EQ(bytes.size(), 128u + 18 * 4);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const int header_len = static_cast<unsigned char>(bytes[8]) |
                         (static_cast<unsigned char>(bytes[9]) << 8);
  EXPECT_EQ(header_len, 118);
  EXPECT_THAT(bytes.substr(10, header_len),
              ::testing::StartsWith("{'descr': '<f4', 'fortran_order': "
                                    "False, 'shape': (3, 2, 3), }"));
  EXPECT_EQ(bytes[127], '\n');
  float v;
  std::memcpy(&v, bytes.data() + 128 + 12 * 4, 4);
  EXPECT_EQ(v, 100.0f);
}

TEST(NpyWriterTest, ScalarRowsUseAOneElementTuple) {
  pruneserve::testing::TempDir dir;
  const std::string path = dir.Join("labels.npy");
  auto w = NpyWriter::Create(path, NpyDType::kInt64, {});
  ASSERT_TRUE(w.ok());
  const std::vector<int64_t> labels = {7, -1, 3};
  ASSERT_TRUE((*w)->Append(labels.data(), 3).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  const std::string bytes = ReadAll(path);
  EXPECT_THAT(bytes.substr(10, 60),
              ::testing::HasSubstr("'descr': '<i8', 'fortran_order': False, "
                                   "'shape': (3,), }"));
  ASSERT_EQ(bytes.size(), 128u + 24);
  int64_t second;
  std::memcpy(&second, bytes.data() + 136, 8);
  EXPECT_EQ(second, -1);
}

TEST(NpyWriterTest, NumpyReadsTheFile) {
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 has no numpy";
  }
  pruneserve::testing::TempDir dir;
  const std::string path = dir.Join("x.npy");
  auto w = NpyWriter::Create(path, NpyDType::kFloat32, {4});
  ASSERT_TRUE(w.ok());
  const std::vector<float> data = {0.5f, 1.5f, 2.5f, 3.5f, -1, -2, -3, -4};
  ASSERT_TRUE((*w)->Append(data.data(), 2).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  const std::string cmd =
      "/usr/bin/python3 -c \"import numpy, sys; a = numpy.load('" + path +
      "'); sys.exit(0 if a.dtype == numpy.float32 and a.shape == (2, 4) and "
      "a[1, 3] == -4 and a.sum() == 8 - 10 else 1)\"";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

TEST(NpyWriterTest, RejectsBadShapesAndPaths) {
  pruneserve::testing::TempDir dir;
  EXPECT_EQ(NpyWriter::Create(dir.Join("a.npy"), NpyDType::kFloat32, {3, 0})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(
      NpyWriter::Create(dir.Join("missing/a.npy"), NpyDType::kFloat32, {1})
          .ok());
}

}  // namespace
}  // namespace pruneserve::vitis
