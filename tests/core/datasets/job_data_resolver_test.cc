#include "core/datasets/job_data_resolver.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "tests/testing/dataset_archives.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::datasets {
namespace {

using ::pruneserve::testing::IdxImages;
using ::pruneserve::testing::IdxLabels;
using ::pruneserve::testing::PpmImage;
using ::pruneserve::testing::TarBuilder;
using ::pruneserve::testing::TempDir;
namespace fs = std::filesystem;

class JobDataResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatasetStoreOptions options;
    options.root = dir_.Join("datasets");
    store_ = *DatasetStore::Create(options);
    Store("fm", v1::DATASET_FORMAT_FASHION_MNIST,
          TarBuilder()
              .File("train-images-idx3-ubyte", IdxImages(10))
              .File("train-labels-idx1-ubyte", IdxLabels(10))
              .File("t10k-images-idx3-ubyte", IdxImages(5))
              .File("t10k-labels-idx1-ubyte", IdxLabels(5))
              .Build());
    Store("flat", v1::DATASET_FORMAT_IMAGEFOLDER,
          TarBuilder().File("a/1.ppm", PpmImage(4, 4)).Build());
    fs::create_directories(dir_.Join("roots/fm"));
    fs::create_directories(dir_.Join("outside"));
    std::ofstream(dir_.Join("outside/secret")) << "x";
    fs::create_symlink(dir_.Join("outside/secret"),
                       dir_.Join("roots/fm/train-images-idx3-ubyte"));
    fs::create_directories(dir_.Join("roots/ok"));
    std::ofstream(dir_.Join("roots/ok/train-images-idx3-ubyte")) << "x";
    resolver_ = std::make_unique<JobDataResolver>(
        store_.get(), *DataRoots::Create({dir_.Join("roots")}));
  }
  void Store(const std::string& name, v1::DatasetFormat format,
             const std::string& archive) {
    v1::UploadDatasetHeader h;
    h.set_name(name);
    h.set_format(format);
    auto upload = *store_->BeginUpload(h);
    ASSERT_TRUE(upload->Append(archive).ok());
    ASSERT_TRUE(upload->Commit().ok());
  }
  std::string DirOf(const std::string& name) {
    return *store_->DirectoryOf(*store_->Get(name, 0));
  }

  TempDir dir_;
  std::unique_ptr<DatasetStore> store_;
  std::unique_ptr<JobDataResolver> resolver_;
};

TEST_F(JobDataResolverTest, StoredDataSetsBecomeTheirDirectory) {
  const std::string fm = DirOf("fm");
  EXPECT_EQ(*resolver_->Resolve("dataset:fm"),
            "fashion-mnist:" + fm + ":train");
  EXPECT_EQ(*resolver_->Resolve("dataset:fm:test"),
            "fashion-mnist:" + fm + ":test");
  EXPECT_EQ(*resolver_->Resolve("dataset:fm:1:test"),
            "fashion-mnist:" + fm + ":test");
  EXPECT_EQ(*resolver_->Resolve("dataset:flat"),
            "imagefolder:" + DirOf("flat"));
  EXPECT_TRUE(
      JobDataResolver::ReadsDirectory(*resolver_->Resolve("dataset:fm"), fm));
  EXPECT_FALSE(
      JobDataResolver::ReadsDirectory(*resolver_->Resolve("dataset:flat"), fm));
}

TEST_F(JobDataResolverTest, MissingOrMalformedReferences) {
  auto r = resolver_->Resolve("dataset:nope");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("nope"), std::string::npos);
  EXPECT_EQ(resolver_->Resolve("dataset:fm:9").status().code(),
            absl::StatusCode::kNotFound);
  r = resolver_->Resolve("dataset:fm:val");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("train, test"), std::string::npos);
  for (const char* bad : {"dataset:", "dataset:fm:0", "dataset:fm:x:train",
                          "dataset:fm:1:train:extra", "dataset::train"}) {
    EXPECT_EQ(resolver_->Resolve(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST_F(JobDataResolverTest, ServerPathsOnlyInsideTheRoots) {
  const std::string ok = fs::canonical(dir_.Join("roots/ok")).string();
  EXPECT_EQ(*resolver_->Resolve("mnist:" + dir_.Join("roots/ok") + ":train"),
            "mnist:" + ok + ":train");
  // A file in an allowed directory that links out is refused, worded like
  // any other refusal.
  const std::string linked = "mnist:" + dir_.Join("roots/fm") + ":train";
  auto r = resolver_->Resolve(linked);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  auto outside =
      resolver_->Resolve("imagefolder:" + dir_.Join("outside") + ":train");
  EXPECT_EQ(outside.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(resolver_->Resolve("fashion-mnist:/etc:train").status().code(),
            absl::StatusCode::kInvalidArgument);
  // The store's own directory is not a root.
  EXPECT_EQ(resolver_->Resolve("fashion-mnist:" + DirOf("fm") + ":train")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(JobDataResolverTest, ImageFolderFilesThatLinkOutAreRefused) {
  // A class directory inside the roots whose image links to a file
  // outside: the reader would follow it, so the path is refused, worded as
  // for a path outside the roots.
  fs::create_directories(dir_.Join("roots/images/train/cat"));
  std::ofstream(dir_.Join("roots/images/train/cat/1.ppm")) << "x";
  const std::string spec =
      "imagefolder:" + dir_.Join("roots/images") + ":train";
  EXPECT_TRUE(resolver_->Resolve(spec).ok());
  fs::create_symlink(dir_.Join("outside/secret"),
                     dir_.Join("roots/images/train/cat/2.ppm"));
  auto linked = resolver_->Resolve(spec);
  EXPECT_EQ(linked.status().code(), absl::StatusCode::kInvalidArgument);
  auto outside = resolver_->Resolve("imagefolder:/etc:train");
  EXPECT_EQ(linked.status().message(),
            absl::StrReplaceAll(
                outside.status().message(),
                {{"/etc/train", dir_.Join("roots/images") + "/train"}}));
}

}  // namespace
}  // namespace pruneserve::datasets
