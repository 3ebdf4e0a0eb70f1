#include "core/datasets/dataset_store.h"

#include <filesystem>

#include "gtest/gtest.h"
#include "tests/testing/dataset_archives.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::datasets {
namespace {

using ::pruneserve::testing::CifarRecords;
using ::pruneserve::testing::IdxImages;
using ::pruneserve::testing::IdxLabels;
using ::pruneserve::testing::PpmImage;
using ::pruneserve::testing::TarBuilder;
using ::pruneserve::testing::TempDir;
namespace fs = std::filesystem;

class DatasetStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    store_.reset();
    DatasetStoreOptions options;
    options.root = dir_.Join("datasets");
    options.tar_limits.max_extracted_bytes = 64 << 20;
    auto store = DatasetStore::Create(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  absl::StatusOr<v1::Dataset> Upload(const std::string& name,
                                     v1::DatasetFormat format,
                                     const std::string& archive,
                                     const std::string& split = "") {
    v1::UploadDatasetHeader header;
    header.set_name(name);
    header.set_format(format);
    header.set_split(split);
    auto upload = store_->BeginUpload(header);
    if (!upload.ok()) return upload.status();
    for (size_t off = 0; off < archive.size(); off += 4096) {
      auto s = (*upload)->Append(archive.substr(off, 4096));
      if (!s.ok()) return s;
    }
    return (*upload)->Commit();
  }
  // Entries of extracted/ (content directories and leftovers).
  std::vector<std::string> Extracted() const {
    std::vector<std::string> out;
    for (const auto& e :
         fs::directory_iterator(dir_.Join("datasets/extracted"))) {
      out.push_back(e.path().filename().string());
    }
    return out;
  }

  TempDir dir_;
  std::unique_ptr<DatasetStore> store_;
};

std::string FashionArchive(int train, int test) {
  TarBuilder b;
  if (train > 0) {
    b.File("train-images-idx3-ubyte", IdxImages(train))
        .File("train-labels-idx1-ubyte", IdxLabels(train));
  }
  if (test > 0) {
    b.File("t10k-images-idx3-ubyte", IdxImages(test))
        .File("t10k-labels-idx1-ubyte", IdxLabels(test, 7));
  }
  return b.Build(/*gzip=*/true);
}

TEST_F(DatasetStoreTest, StoresIdxWithSplitsAndVersions) {
  auto d =
      Upload("fm", v1::DATASET_FORMAT_FASHION_MNIST, FashionArchive(50, 20));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->version(), 1);
  ASSERT_EQ(d->splits_size(), 2);
  EXPECT_EQ(d->splits(0).name(), "train");
  EXPECT_EQ(d->splits(0).images(), 50);
  EXPECT_EQ(d->splits(0).classes(), 10);
  EXPECT_EQ(d->splits(0).height(), 28);
  EXPECT_EQ(d->splits(1).name(), "test");
  EXPECT_EQ(d->splits(1).images(), 20);
  EXPECT_EQ(d->splits(1).classes(), 7);
  EXPECT_EQ(d->files(), 4);
  auto dir = store_->DirectoryOf(*d);
  ASSERT_TRUE(dir.ok());
  EXPECT_TRUE(fs::exists(*dir + "/train-images-idx3-ubyte"));

  // Same bytes again: version 2, one shared directory.
  auto again =
      Upload("fm", v1::DATASET_FORMAT_FASHION_MNIST, FashionArchive(50, 20));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->version(), 2);
  EXPECT_EQ(*store_->DirectoryOf(*again), *dir);
  EXPECT_EQ(Extracted().size(), 1u);

  auto list = store_->List("");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 2u);
  EXPECT_EQ(store_->Get("fm", 0)->version(), 2);
  EXPECT_EQ(store_->Get("fm", 3).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Get("nope", 0).status().code(),
            absl::StatusCode::kNotFound);

  // Deleting one version keeps the shared directory; the last removes it.
  EXPECT_EQ(*store_->Delete("fm", 1), 1);
  EXPECT_TRUE(fs::exists(*dir));
  EXPECT_EQ(*store_->Delete("fm", 0), 1);
  EXPECT_FALSE(fs::exists(*dir));
  EXPECT_TRUE(Extracted().empty());
  EXPECT_EQ(store_->Delete("fm", 0).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(DatasetStoreTest, IdxPairUnderOtherNamesWithSplitHint) {
  const std::string archive = TarBuilder()
                                  .File("labels.bin", IdxLabels(30, 3))
                                  .File("images.bin", IdxImages(30, 8, 8))
                                  .Build();
  auto d = Upload("pair", v1::DATASET_FORMAT_MNIST, archive, "test");
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->splits_size(), 1);
  EXPECT_EQ(d->splits(0).name(), "test");
  EXPECT_EQ(d->splits(0).classes(), 3);
  EXPECT_EQ(d->splits(0).width(), 8);
  const std::string dir = *store_->DirectoryOf(*d);
  EXPECT_TRUE(fs::exists(dir + "/t10k-images-idx3-ubyte"));
  EXPECT_TRUE(fs::exists(dir + "/t10k-labels-idx1-ubyte"));
  // Without the hint the names are unknown.
  auto refused = Upload("pair", v1::DATASET_FORMAT_MNIST, archive);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("labels.bin"), std::string::npos);
}

TEST_F(DatasetStoreTest, StoresCifarAndImageFolder) {
  TarBuilder cifar;
  for (int i = 1; i <= 5; ++i) {
    cifar.File("data_batch_" + std::to_string(i) + ".bin", CifarRecords(4));
  }
  cifar.File("test_batch.bin", CifarRecords(6)).File("batches.meta.txt", "x");
  auto c10 = Upload("c10", v1::DATASET_FORMAT_CIFAR10, cifar.Build());
  ASSERT_TRUE(c10.ok()) << c10.status();
  EXPECT_EQ(c10->splits(0).images(), 20);
  EXPECT_EQ(c10->splits(1).images(), 6);
  EXPECT_EQ(c10->splits(1).classes(), 6);

  auto c100 = Upload(
      "c100", v1::DATASET_FORMAT_CIFAR100,
      TarBuilder().File("test.bin", CifarRecords(50, true, 100)).Build());
  ASSERT_TRUE(c100.ok()) << c100.status();
  ASSERT_EQ(c100->splits_size(), 1);
  EXPECT_EQ(c100->splits(0).classes(), 50);

  auto folder = Upload("imgs", v1::DATASET_FORMAT_IMAGEFOLDER,
                       TarBuilder()
                           .File("train/cat/1.ppm", PpmImage(8, 8))
                           .File("train/cat/2.ppm", PpmImage(8, 8))
                           .File("train/dog/1.ppm", PpmImage(8, 8))
                           .File("val/cat/1.ppm", PpmImage(8, 8))
                           .File("val/dog/1.ppm", PpmImage(8, 8))
                           .Build(true));
  ASSERT_TRUE(folder.ok()) << folder.status();
  ASSERT_EQ(folder->splits_size(), 2);
  EXPECT_EQ(folder->splits(0).name(), "train");
  EXPECT_EQ(folder->splits(0).images(), 3);
  EXPECT_EQ(folder->splits(0).classes(), 2);
  EXPECT_EQ(folder->splits(1).name(), "val");
  EXPECT_EQ(folder->splits(0).channels(), 3);
}

TEST_F(DatasetStoreTest, RefusesWrongFormatsAndLeavesNothing) {
  struct Case {
    const char* name;
    v1::DatasetFormat format;
    std::string archive;
    const char* message;
  };
  const Case cases[] = {
      {"IDX declared, CIFAR sent", v1::DATASET_FORMAT_FASHION_MNIST,
       TarBuilder().File("test_batch.bin", CifarRecords(3)).Build(),
       "unexpected file"},
      {"IDX wrong magic", v1::DATASET_FORMAT_MNIST,
       TarBuilder()
           .File("train-images-idx3-ubyte", IdxLabels(5))
           .File("train-labels-idx1-ubyte", IdxLabels(5))
           .Build(),
       "magic"},
      {"IDX counts differ", v1::DATASET_FORMAT_MNIST,
       TarBuilder()
           .File("train-images-idx3-ubyte", IdxImages(5))
           .File("train-labels-idx1-ubyte", IdxLabels(6))
           .Build(),
       "train-images-idx3-ubyte"},
      {"IDX images without labels", v1::DATASET_FORMAT_MNIST,
       TarBuilder().File("t10k-images-idx3-ubyte", IdxImages(5)).Build(),
       "no label file"},
      {"CIFAR partial record", v1::DATASET_FORMAT_CIFAR10,
       TarBuilder().File("test_batch.bin", CifarRecords(2) + "x").Build(),
       "whole number"},
      {"CIFAR train incomplete", v1::DATASET_FORMAT_CIFAR10,
       TarBuilder().File("data_batch_1.bin", CifarRecords(2)).Build(),
       "data_batch_2.bin"},
      {"CIFAR-10 label 10", v1::DATASET_FORMAT_CIFAR10,
       TarBuilder().File("test_batch.bin", CifarRecords(11, false, 11)).Build(),
       "label 10"},
      {"image folder with a text file", v1::DATASET_FORMAT_IMAGEFOLDER,
       TarBuilder()
           .File("cat/1.ppm", PpmImage(4, 4))
           .File("cat/x.txt", "x")
           .Build(),
       "not an image"},
      {"image folder with a broken image", v1::DATASET_FORMAT_IMAGEFOLDER,
       TarBuilder().File("cat/1.png", "not a png").Build(),
       "not a decodable image"},
      {"image folder splits with other classes", v1::DATASET_FORMAT_IMAGEFOLDER,
       TarBuilder()
           .File("train/cat/1.ppm", PpmImage(4, 4))
           .File("val/dog/1.ppm", PpmImage(4, 4))
           .Build(),
       "different classes"},
      {"image too shallow", v1::DATASET_FORMAT_IMAGEFOLDER,
       TarBuilder().File("1.ppm", PpmImage(4, 4)).Build(), "<class>/<image>"},
      {"traversal", v1::DATASET_FORMAT_IMAGEFOLDER,
       TarBuilder().File("../cat/1.ppm", PpmImage(4, 4)).Build(), "'..'"},
      {"not a tar", v1::DATASET_FORMAT_CIFAR10, "garbage bytes here",
       "not a readable tar"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto d = Upload("bad", c.format, c.archive);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(d.status().message().find(c.message), std::string::npos)
        << d.status();
    EXPECT_TRUE(Extracted().empty());
  }
  EXPECT_TRUE(store_->List("")->empty());
  EXPECT_TRUE(fs::is_empty(dir_.Join("datasets/tmp")));
}

TEST_F(DatasetStoreTest, RefusesBadHeaders) {
  v1::UploadDatasetHeader h;
  h.set_name("../x");
  h.set_format(v1::DATASET_FORMAT_CIFAR10);
  EXPECT_EQ(store_->BeginUpload(h).status().code(),
            absl::StatusCode::kInvalidArgument);
  h.set_name("ok");
  h.set_format(v1::DATASET_FORMAT_UNSPECIFIED);
  EXPECT_EQ(store_->BeginUpload(h).status().code(),
            absl::StatusCode::kInvalidArgument);
  h.set_format(v1::DATASET_FORMAT_CIFAR10);
  h.set_split("train");
  EXPECT_EQ(store_->BeginUpload(h).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(DatasetStoreTest, ChecksTheArchiveSha256AndUploadCap) {
  const std::string archive = FashionArchive(10, 0);
  v1::UploadDatasetHeader h;
  h.set_name("fm");
  h.set_format(v1::DATASET_FORMAT_FASHION_MNIST);
  h.set_expected_sha256(std::string(64, 'a'));
  auto upload = store_->BeginUpload(h);
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Append(archive).ok());
  EXPECT_EQ((*upload)->Commit().status().code(), absl::StatusCode::kDataLoss);

  store_.reset();
  DatasetStoreOptions options;
  options.root = dir_.Join("datasets");
  options.max_archive_bytes = 100;
  store_ = *DatasetStore::Create(options);
  h.clear_expected_sha256();
  upload = store_->BeginUpload(h);
  ASSERT_TRUE(upload.ok());
  EXPECT_EQ((*upload)->Append(archive).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(fs::is_empty(dir_.Join("datasets/tmp")));
}

TEST_F(DatasetStoreTest, RemovalCheckKeepsADirectoryInUse) {
  auto d =
      Upload("fm", v1::DATASET_FORMAT_FASHION_MNIST, FashionArchive(10, 0));
  ASSERT_TRUE(d.ok());
  const std::string dir = *store_->DirectoryOf(*d);
  std::string asked;
  auto refused = store_->Delete("fm", 0, [&](const std::string& which) {
    asked = which;
    return absl::FailedPreconditionError("read by job 7");
  });
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(asked, dir);
  EXPECT_TRUE(store_->Get("fm", 1).ok());
  EXPECT_TRUE(fs::exists(dir));
}

TEST_F(DatasetStoreTest, ReopenKeepsRowsAndCollectsLeftovers) {
  auto d =
      Upload("fm", v1::DATASET_FORMAT_FASHION_MNIST, FashionArchive(10, 0));
  ASSERT_TRUE(d.ok());
  fs::create_directories(dir_.Join("datasets/extracted/tmp.abc123/x"));
  fs::create_directories(dir_.Join("datasets/extracted/deadbeef.cifar10"));
  Reopen();
  EXPECT_EQ(store_->Get("fm", 0)->sha256(), d->sha256());
  EXPECT_EQ(Extracted().size(), 1u);
  EXPECT_TRUE(fs::exists(*store_->DirectoryOf(*d)));
}

}  // namespace
}  // namespace pruneserve::datasets
