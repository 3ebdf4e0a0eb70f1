// Tests of ImageFolderDataset on PNG/JPEG files written with stb_image_write.
#include "core/data/image_folder.h"

#include <stb/stb_image_write.h>
#include <sys/stat.h>

#include <cstdio>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::data {
namespace {

using ::testing::HasSubstr;

// A w x h RGB image whose pixel (y, x) is (x * 10, y * 10, value).
std::vector<unsigned char> Pixels(int w, int h, unsigned char value) {
  std::vector<unsigned char> p(w * h * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      p[(y * w + x) * 3 + 0] = static_cast<unsigned char>(x * 10);
      p[(y * w + x) * 3 + 1] = static_cast<unsigned char>(y * 10);
      p[(y * w + x) * 3 + 2] = value;
    }
  }
  return p;
}

class ImageFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* c : {"cat", "dog", "empty"}) {
      ASSERT_EQ(mkdir(dir_.Join(c).c_str(), 0755), 0);
    }
    auto png = Pixels(4, 3, 50);
    ASSERT_NE(stbi_write_png(dir_.Join("cat/a.png").c_str(), 4, 3, 3,
                             png.data(), 4 * 3),
              0);
    ASSERT_NE(stbi_write_png(dir_.Join("cat/b.PNG").c_str(), 4, 3, 3,
                             png.data(), 4 * 3),
              0);
    auto jpg = Pixels(8, 8, 128);
    ASSERT_NE(
        stbi_write_jpg(dir_.Join("dog/z.jpg").c_str(), 8, 8, 3, jpg.data(), 95),
        0);
    FILE* f = std::fopen(dir_.Join("dog/notes.txt").c_str(), "w");
    std::fputs("not an image", f);
    std::fclose(f);
  }
  testing::TempDir dir_;
};

TEST_F(ImageFolderTest, ClassesAreSortedFoldersAndImagesDecode) {
  ImageFolderOptions o;
  o.root = dir_.path();
  auto ds = ImageFolderDataset::Create(o);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_THAT((*ds)->class_names(),
              ::testing::ElementsAre("cat", "dog", "empty"));
  EXPECT_EQ((*ds)->num_classes(), 3);
  ASSERT_EQ((*ds)->size(), 3);  // notes.txt is skipped
  // Round-robin order: cat/a, dog/z, cat/b.
  EXPECT_THAT((*ds)->path(0), HasSubstr("cat/a.png"));
  EXPECT_THAT((*ds)->path(1), HasSubstr("dog/z.jpg"));
  auto png = (*ds)->Get(0);
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_EQ(png->label, 0);
  EXPECT_EQ(png->image.sizes(), (std::vector<int64_t>{3, 3, 4}));
  // PNG is lossless: exact values, CHW layout.
  EXPECT_EQ(png->image[0][2][3].item<int>(), 30);  // x * 10
  EXPECT_EQ(png->image[1][2][3].item<int>(), 20);  // y * 10
  EXPECT_EQ(png->image[2][1][1].item<int>(), 50);
  auto jpg = (*ds)->Get(1);
  ASSERT_TRUE(jpg.ok()) << jpg.status();
  EXPECT_EQ(jpg->label, 1);
  EXPECT_EQ(jpg->image.sizes(), (std::vector<int64_t>{3, 8, 8}));
  // JPEG is lossy; the flat blue channel stays close to 128.
  EXPECT_NEAR(jpg->image[2].to(torch::kFloat).mean().item<float>(), 128, 4);
}

TEST_F(ImageFolderTest, GrayscaleDecodingAndLimit) {
  ImageFolderOptions o;
  o.root = dir_.path();
  o.channels = 1;
  o.limit = 2;
  auto ds = ImageFolderDataset::Create(o);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->size(), 2);
  EXPECT_EQ((*ds)->Get(0)->image.sizes(), (std::vector<int64_t>{1, 3, 4}));
  // The limited prefix still covers both non-empty classes.
  EXPECT_EQ((*ds)->Get(1)->label, 1);
}

TEST_F(ImageFolderTest, UnreadableImageNamesTheFile) {
  FILE* f = std::fopen(dir_.Join("dog/broken.png").c_str(), "wb");
  std::fputs("\x89PNG garbage", f);
  std::fclose(f);
  ImageFolderOptions o;
  o.root = dir_.path();
  auto ds = ImageFolderDataset::Create(o);
  ASSERT_TRUE(ds.ok()) << ds.status();
  int64_t broken = -1;
  for (int64_t i = 0; i < (*ds)->size(); ++i) {
    if ((*ds)->path(i).find("broken.png") != std::string::npos) broken = i;
  }
  ASSERT_GE(broken, 0);
  auto ex = (*ds)->Get(broken);
  EXPECT_EQ(ex.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(ex.status().message(), HasSubstr("dog/broken.png"));
}

TEST_F(ImageFolderTest, BadRootsAreErrors) {
  ImageFolderOptions o;
  o.root = dir_.Join("missing");
  EXPECT_EQ(ImageFolderDataset::Create(o).status().code(),
            absl::StatusCode::kNotFound);
  o.root = dir_.Join("empty");
  EXPECT_EQ(ImageFolderDataset::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.root = dir_.path();
  o.channels = 2;
  EXPECT_EQ(ImageFolderDataset::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pruneserve::data
