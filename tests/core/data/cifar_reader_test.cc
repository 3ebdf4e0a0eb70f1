// Tests of the CIFAR-10/100 binary reader on batch files written here.
#include "core/data/cifar_reader.h"

#include <cstdio>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::data {
namespace {

using ::testing::HasSubstr;

// One record: label byte(s), then 3072 pixels where R = seed, G = seed + 1,
// B = seed + 2 except pixel (row 1, col 2) of R, which is 200.
std::string Record(std::vector<uint8_t> label_bytes, uint8_t seed) {
  std::string out(label_bytes.begin(), label_bytes.end());
  for (int c = 0; c < 3; ++c) {
    std::string plane(1024, static_cast<char>(seed + c));
    if (c == 0) plane[1 * 32 + 2] = static_cast<char>(200);
    out += plane;
  }
  return out;
}

void Write(const std::string& path, const std::string& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

TEST(CifarReaderTest, SplitFilesFollowTheReleasedLayout) {
  auto train = CifarSplitFiles("/d", CifarVariant::kCifar10, "train");
  ASSERT_TRUE(train.ok());
  EXPECT_THAT(*train, ::testing::ElementsAre(
                          "/d/data_batch_1.bin", "/d/data_batch_2.bin",
                          "/d/data_batch_3.bin", "/d/data_batch_4.bin",
                          "/d/data_batch_5.bin"));
  EXPECT_THAT(*CifarSplitFiles("/d", CifarVariant::kCifar10, "test"),
              ::testing::ElementsAre("/d/test_batch.bin"));
  EXPECT_THAT(*CifarSplitFiles("/d", CifarVariant::kCifar100, "train"),
              ::testing::ElementsAre("/d/train.bin"));
  EXPECT_EQ(
      CifarSplitFiles("/d", CifarVariant::kCifar10, "dev").status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(CifarReaderTest, ReadsCifar10RecordsAcrossFiles) {
  testing::TempDir dir;
  Write(dir.Join("a.bin"), Record({3}, 10) + Record({7}, 20));
  Write(dir.Join("b.bin"), Record({9}, 30));
  CifarOptions o;
  o.files = {dir.Join("a.bin"), dir.Join("b.bin")};
  auto ds = LoadCifarDataset(o);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->size(), 3);
  EXPECT_EQ((*ds)->num_classes(), 10);
  auto ex = (*ds)->Get(2);
  ASSERT_TRUE(ex.ok());
  EXPECT_EQ(ex->label, 9);
  EXPECT_EQ(ex->image.sizes(), (std::vector<int64_t>{3, 32, 32}));
  EXPECT_EQ(ex->image[0][1][2].item<int>(), 200);
  EXPECT_EQ(ex->image[0][0][0].item<int>(), 30);
  EXPECT_EQ(ex->image[2][31][31].item<int>(), 32);
  EXPECT_EQ((*ds)->Get(1)->label, 7);

  o.limit = 2;
  auto limited = LoadCifarDataset(o);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ((*limited)->size(), 2);
}

TEST(CifarReaderTest, Cifar100UsesFineOrCoarseLabels) {
  testing::TempDir dir;
  Write(dir.Join("train.bin"), Record({4, 87}, 1) + Record({19, 99}, 2));
  CifarOptions o;
  o.files = {dir.Join("train.bin")};
  o.variant = CifarVariant::kCifar100;
  auto fine = LoadCifarDataset(o);
  ASSERT_TRUE(fine.ok()) << fine.status();
  EXPECT_EQ((*fine)->num_classes(), 100);
  EXPECT_EQ((*fine)->Get(0)->label, 87);
  EXPECT_EQ((*fine)->Get(1)->label, 99);
  EXPECT_EQ((*fine)->Get(1)->image[1][5][5].item<int>(), 3);
  o.coarse_labels = true;
  auto coarse = LoadCifarDataset(o);
  ASSERT_TRUE(coarse.ok());
  EXPECT_EQ((*coarse)->num_classes(), 20);
  EXPECT_EQ((*coarse)->Get(0)->label, 4);
}

TEST(CifarReaderTest, TruncatedFileNamesPartialRecordOffset) {
  testing::TempDir dir;
  std::string bytes = Record({1}, 0) + Record({2}, 0);
  bytes.resize(bytes.size() - 100);
  Write(dir.Join("data_batch_1.bin"), bytes);
  CifarOptions o;
  o.files = {dir.Join("data_batch_1.bin")};
  auto ds = LoadCifarDataset(o);
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(ds.status().message(), HasSubstr("data_batch_1.bin"));
  EXPECT_THAT(ds.status().message(), HasSubstr("byte offset 3073"));
}

TEST(CifarReaderTest, LabelOutOfRangeNamesOffset) {
  testing::TempDir dir;
  Write(dir.Join("x.bin"), Record({1}, 0) + Record({10}, 0));
  CifarOptions o;
  o.files = {dir.Join("x.bin")};
  auto ds = LoadCifarDataset(o);
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(ds.status().message(), HasSubstr("x.bin"));
  EXPECT_THAT(ds.status().message(), HasSubstr("label 10 at byte offset 3073"));
}

TEST(CifarReaderTest, MissingFileIsNotFound) {
  CifarOptions o;
  o.files = {"/nonexistent/test_batch.bin"};
  auto ds = LoadCifarDataset(o);
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(ds.status().message(), HasSubstr("test_batch.bin"));
}

}  // namespace
}  // namespace pruneserve::data
