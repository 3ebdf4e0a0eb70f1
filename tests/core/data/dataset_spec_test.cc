// Tests of data-set spec parsing, OpenDataset dispatch, and an end-to-end
// epoch over the real Fashion-MNIST files when Debian's package is installed.
#include "core/data/dataset_spec.h"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "core/data/prefetching_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::data {
namespace {

using ::testing::HasSubstr;

TEST(DatasetSpecTest, ParsesTheDocumentedForms) {
  auto f =
      ParseDatasetSpec("fashion-mnist:/usr/share/datasets/fashion-mnist:train");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->format, DatasetFormat::kFashionMnist);
  EXPECT_EQ(f->dir, "/usr/share/datasets/fashion-mnist");
  EXPECT_EQ(f->split, "train");

  auto c = ParseDatasetSpec("cifar100:/data/c:x:test");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->format, DatasetFormat::kCifar100);
  EXPECT_EQ(c->dir, "/data/c:x");
  EXPECT_EQ(c->split, "test");

  auto i = ParseDatasetSpec("imagefolder:/data/imagenet100");
  ASSERT_TRUE(i.ok()) << i.status();
  EXPECT_EQ(i->format, DatasetFormat::kImageFolder);
  EXPECT_EQ(i->dir, "/data/imagenet100");
  EXPECT_EQ(i->split, "");
  EXPECT_EQ(ParseDatasetSpec("imagefolder:/d:val")->split, "val");
}

TEST(DatasetSpecTest, ErrorsNameTheProblem) {
  auto unknown = ParseDatasetSpec("svhn:/d:train");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("svhn"));
  EXPECT_THAT(unknown.status().message(), HasSubstr("cifar10"));
  auto no_colon = ParseDatasetSpec("cifar10");
  EXPECT_EQ(no_colon.status().code(), absl::StatusCode::kInvalidArgument);
  auto no_split = ParseDatasetSpec("cifar10:/d");
  EXPECT_EQ(no_split.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_split.status().message(), HasSubstr("split"));
  auto no_dir = ParseDatasetSpec("mnist::train");
  EXPECT_EQ(no_dir.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_dir.status().message(), HasSubstr("directory"));
  EXPECT_EQ(ParseDatasetSpec("mnist:/d:val").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DatasetSpecTest, OpenReportsMissingFiles) {
  testing::TempDir dir;
  auto cifar =
      OpenDataset(*ParseDatasetSpec("cifar10:" + dir.path() + ":test"));
  EXPECT_EQ(cifar.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(cifar.status().message(), HasSubstr("test_batch.bin"));
  auto mnist = OpenDataset(*ParseDatasetSpec("mnist:" + dir.path() + ":train"));
  EXPECT_EQ(mnist.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(mnist.status().message(), HasSubstr("train-images-idx3-ubyte"));
}

TEST(DatasetSpecTest, OpensCifarFromADirectory) {
  testing::TempDir dir;
  std::string record(1 + 3072, '\0');
  record[0] = 6;
  FILE* f = std::fopen(dir.Join("test_batch.bin").c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(record.data(), 1, record.size(), f);
  std::fclose(f);
  auto ds = OpenDataset(*ParseDatasetSpec("cifar10:" + dir.path() + ":test"));
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->size(), 1);
  EXPECT_EQ((*ds)->Get(0)->label, 6);
  EXPECT_EQ(DefaultsFor(DatasetFormat::kCifar10).mean.size(), 3u);
}

constexpr char kFashionSpec[] =
    "fashion-mnist:/usr/share/datasets/fashion-mnist:train";

TEST(DatasetSpecTest, FashionMnistEpochThroughTheLoader) {
  struct stat st;
  if (stat("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
           &st) != 0) {
    GTEST_SKIP() << "dataset-fashion-mnist absent";
  }
  auto spec = ParseDatasetSpec(kFashionSpec);
  ASSERT_TRUE(spec.ok());
  auto t0 = std::chrono::steady_clock::now();
  auto ds = OpenDataset(*spec);
  ASSERT_TRUE(ds.ok()) << ds.status();
  auto t1 = std::chrono::steady_clock::now();
  EXPECT_EQ((*ds)->size(), 60000);

  // The CIFAR-style recipe on Fashion-MNIST for a 3-channel model.
  const FormatDefaults defaults = DefaultsFor(spec->format);
  LoaderOptions o;
  o.batch_size = 256;
  o.shuffle = true;
  o.seed = 1;
  o.num_threads = 2;
  o.transform.channels = 3;
  o.transform.random_crop_padding = 2;
  o.transform.random_horizontal_flip = true;
  o.transform.mean = defaults.mean;
  o.transform.std = defaults.std;
  auto loader = PrefetchingLoader::Create(*ds, o);
  ASSERT_TRUE(loader.ok()) << loader.status();
  (*loader)->StartEpoch(0);
  int64_t seen = 0;
  double pixel_sum = 0;
  while (true) {
    auto b = (*loader)->Next();
    ASSERT_TRUE(b.ok()) << b.status();
    if (!b->has_value()) break;
    EXPECT_EQ((*b)->images.size(1), 3);
    EXPECT_EQ((*b)->images.size(2), 28);
    seen += (*b)->images.size(0);
    pixel_sum += (*b)->images.sum().item<double>();
  }
  auto t2 = std::chrono::steady_clock::now();
  EXPECT_EQ(seen, 60000);
  // Normalised with the data set's own statistics the mean is near 0 (the
  // padding of random crops pulls it slightly negative).
  const double mean = pixel_sum / (60000.0 * 3 * 28 * 28);
  EXPECT_NEAR(mean, 0.0, 0.15);
  std::printf(
      "Fashion-MNIST: load %.3f s, one augmented epoch (batch 256, 2 "
      "threads) %.3f s, pixel mean %.4f\n",
      std::chrono::duration<double>(t1 - t0).count(),
      std::chrono::duration<double>(t2 - t1).count(), mean);
}

}  // namespace
}  // namespace pruneserve::data
