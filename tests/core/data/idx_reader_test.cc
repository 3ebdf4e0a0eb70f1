// Tests of the IDX reader on small files written here (gzip and plain), on
// each kind of bad data, and on Debian's Fashion-MNIST files when installed.
#include "core/data/idx_reader.h"

#include <sys/stat.h>
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::data {
namespace {

using ::testing::HasSubstr;

void PutBigEndian32(std::string* out, uint32_t v) {
  out->push_back(static_cast<char>(v >> 24));
  out->push_back(static_cast<char>(v >> 16));
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}

void WriteGz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), bytes.size()),
            static_cast<int>(bytes.size()));
  gzclose(f);
}

void WritePlain(const std::string& path, const std::string& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

// n images of 2x3 pixels: pixel value = 10 * image + position.
std::string ImagesFile(uint32_t n, uint32_t magic = 0x803) {
  std::string out;
  PutBigEndian32(&out, magic);
  PutBigEndian32(&out, n);
  PutBigEndian32(&out, 2);
  PutBigEndian32(&out, 3);
  for (uint32_t i = 0; i < n; ++i) {
    for (int p = 0; p < 6; ++p) out.push_back(static_cast<char>(10 * i + p));
  }
  return out;
}

std::string LabelsFile(const std::vector<uint8_t>& labels) {
  std::string out;
  PutBigEndian32(&out, 0x801);
  PutBigEndian32(&out, labels.size());
  for (uint8_t l : labels) out.push_back(static_cast<char>(l));
  return out;
}

class IdxReaderTest : public ::testing::Test {
 protected:
  IdxOptions Write(const std::string& images, const std::string& labels,
                   bool gz = true) {
    IdxOptions o;
    o.images_path = dir_.Join(gz ? "images.gz" : "images");
    o.labels_path = dir_.Join(gz ? "labels.gz" : "labels");
    if (gz) {
      WriteGz(o.images_path, images);
      WriteGz(o.labels_path, labels);
    } else {
      WritePlain(o.images_path, images);
      WritePlain(o.labels_path, labels);
    }
    return o;
  }
  testing::TempDir dir_;
};

TEST_F(IdxReaderTest, RawReadKeepsTheBytesAsStored) {
  auto read = ReadIdxFiles(Write(ImagesFile(3), LabelsFile({4, 0, 9})));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->count(), 3);
  EXPECT_EQ(read->rows, 2);
  EXPECT_EQ(read->cols, 3);
  ASSERT_EQ(read->pixels.size(), 18u);
  EXPECT_EQ(read->pixels[0], 0);
  EXPECT_EQ(read->pixels[17], 25);  // image 2, position 5
  EXPECT_EQ(read->labels, (std::vector<uint8_t>{4, 0, 9}));
}

TEST_F(IdxReaderTest, ReadsGzipAndPlainFiles) {
  for (bool gz : {true, false}) {
    auto ds = LoadIdxDataset(Write(ImagesFile(3), LabelsFile({4, 0, 9}), gz));
    ASSERT_TRUE(ds.ok()) << ds.status();
    EXPECT_EQ((*ds)->size(), 3);
    EXPECT_EQ((*ds)->num_classes(), 10);
    EXPECT_EQ((*ds)->images().sizes(), (std::vector<int64_t>{3, 1, 2, 3}));
    auto ex = (*ds)->Get(2);
    ASSERT_TRUE(ex.ok());
    EXPECT_EQ(ex->label, 9);
    EXPECT_EQ(ex->image[0][1][2].item<int>(), 25);  // 10 * 2 + (1 * 3 + 2)
    EXPECT_EQ((*ds)->Get(3).status().code(), absl::StatusCode::kOutOfRange);
  }
}

TEST_F(IdxReaderTest, LimitLoadsAPrefix) {
  IdxOptions o = Write(ImagesFile(3), LabelsFile({4, 0, 9}));
  o.limit = 2;
  auto ds = LoadIdxDataset(o);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->size(), 2);
  EXPECT_EQ((*ds)->Get(1)->label, 0);
}

TEST_F(IdxReaderTest, MissingFileIsNotFound) {
  IdxOptions o;
  o.images_path = dir_.Join("nope.gz");
  o.labels_path = dir_.Join("nope2.gz");
  auto ds = LoadIdxDataset(o);
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(ds.status().message(), HasSubstr("nope.gz"));
}

TEST_F(IdxReaderTest, WrongMagicNamesFileAndOffset) {
  auto ds = LoadIdxDataset(Write(ImagesFile(3, 0x801), LabelsFile({1, 2, 3})));
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(ds.status().message(), HasSubstr("images.gz"));
  EXPECT_THAT(ds.status().message(), HasSubstr("magic"));
  EXPECT_THAT(ds.status().message(), HasSubstr("byte offset 0"));
}

TEST_F(IdxReaderTest, TruncatedImagesNameFileAndOffset) {
  std::string images = ImagesFile(3);
  images.resize(images.size() - 4);  // header 16 + 18 pixels → 30 bytes
  auto ds = LoadIdxDataset(Write(images, LabelsFile({1, 2, 3})));
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(ds.status().message(), HasSubstr("images.gz"));
  EXPECT_THAT(ds.status().message(), HasSubstr("truncated at byte offset 30"));
}

TEST_F(IdxReaderTest, TruncatedGzipStreamIsDataLoss) {
  IdxOptions o = Write(ImagesFile(50), LabelsFile(std::vector<uint8_t>(50, 1)));
  // Cut the compressed file in half: zlib reports a corrupt/short stream.
  struct stat st;
  ASSERT_EQ(stat(o.images_path.c_str(), &st), 0);
  ASSERT_EQ(truncate(o.images_path.c_str(), st.st_size / 2), 0);
  auto ds = LoadIdxDataset(o);
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(ds.status().message(), HasSubstr("images.gz"));
  EXPECT_THAT(ds.status().message(), HasSubstr("byte offset"));
}

TEST_F(IdxReaderTest, LabelOutOfRangeNamesOffset) {
  auto ds = LoadIdxDataset(Write(ImagesFile(3), LabelsFile({1, 12, 3})));
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(ds.status().message(), HasSubstr("labels.gz"));
  EXPECT_THAT(ds.status().message(), HasSubstr("label 12 at byte offset 9"));
}

TEST_F(IdxReaderTest, CountMismatchIsDataLoss) {
  auto ds = LoadIdxDataset(Write(ImagesFile(3), LabelsFile({1, 2})));
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(ds.status().message(), HasSubstr("does not match"));
}

// A header declaring 2^31 images of 4096x4096 pixels used to reach
// torch::empty (32 PB), whose exception nothing caught.
TEST_F(IdxReaderTest, HugeDeclaredSizeIsDataLossBeforeAllocation) {
  for (bool gz : {true, false}) {
    std::string images;
    PutBigEndian32(&images, 0x803);
    PutBigEndian32(&images, 1u << 31);
    PutBigEndian32(&images, 4096);
    PutBigEndian32(&images, 4096);
    images.append(100, '\0');
    std::string labels;
    PutBigEndian32(&labels, 0x801);
    PutBigEndian32(&labels, 1u << 31);
    labels.append(100, '\1');
    auto ds = LoadIdxDataset(Write(images, labels, gz));
    EXPECT_EQ(ds.status().code(), absl::StatusCode::kDataLoss) << ds.status();
    EXPECT_THAT(ds.status().message(),
                HasSubstr(gz ? "images.gz: the header declares 2147483648 "
                               "images of 4096x4096 pixels"
                             : "images: the header declares 2147483648 "
                               "images of 4096x4096 pixels"));
    EXPECT_THAT(ds.status().message(), HasSubstr("but the file holds at most"));
  }
  // Plausible pixels but a label count the label file cannot hold.
  std::string labels;
  PutBigEndian32(&labels, 0x801);
  PutBigEndian32(&labels, 3);
  auto ds = LoadIdxDataset(Write(ImagesFile(3), labels, false));
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kDataLoss) << ds.status();
  EXPECT_THAT(ds.status().message(),
              HasSubstr("labels: the header declares 3 labels (3 bytes after "
                        "byte offset 8) but the file holds at most 0"));
}

constexpr char kFashionDir[] = "/usr/share/datasets/fashion-mnist";

bool FashionMnistInstalled() {
  struct stat st;
  return stat(
             (std::string(kFashionDir) + "/train-images-idx3-ubyte.gz").c_str(),
             &st) == 0;
}

TEST(FashionMnistTest, RealFilesHaveTheDocumentedShape) {
  if (!FashionMnistInstalled()) GTEST_SKIP() << "dataset-fashion-mnist absent";
  const std::string dir = kFashionDir;
  IdxOptions train;
  train.images_path = dir + "/train-images-idx3-ubyte.gz";
  train.labels_path = dir + "/train-labels-idx1-ubyte.gz";
  const auto start = std::chrono::steady_clock::now();
  auto ds = LoadIdxDataset(train);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  ASSERT_TRUE(ds.ok()) << ds.status();
  std::printf("Fashion-MNIST train (60000 images) loaded in %.3f s\n", seconds);
  EXPECT_EQ((*ds)->size(), 60000);
  EXPECT_EQ((*ds)->images().sizes(), (std::vector<int64_t>{60000, 1, 28, 28}));
  // The first training labels of Fashion-MNIST: ankle boot, T-shirt, T-shirt,
  // dress, T-shirt, pullover.
  const std::vector<int64_t> first = {9, 0, 0, 3, 0, 2};
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ((*ds)->Get(i)->label, first[i]) << i;
  }
  // Balanced: 6000 per class.
  auto counts = torch::bincount((*ds)->labels());
  EXPECT_TRUE(torch::equal(counts, torch::full({10}, 6000, torch::kLong)));

  IdxOptions test;
  test.images_path = dir + "/t10k-images-idx3-ubyte.gz";
  test.labels_path = dir + "/t10k-labels-idx1-ubyte.gz";
  auto t = LoadIdxDataset(test);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->size(), 10000);
  const std::vector<int64_t> first_test = {9, 2, 1, 1, 6};
  for (size_t i = 0; i < first_test.size(); ++i) {
    EXPECT_EQ((*t)->Get(i)->label, first_test[i]) << i;
  }
}

}  // namespace
}  // namespace pruneserve::data
