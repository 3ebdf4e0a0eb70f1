// Tests of PrefetchingLoader: batching, drop_last, epochs, determinism across
// thread counts, error propagation and the bound on decoded-ahead batches.
#include "core/data/prefetching_loader.h"

#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pruneserve::data {
namespace {

using ::testing::HasSubstr;

// Example i is a 1x4x4 image filled with i % 256, label i % 3. Counts Get()
// calls; `bad_index` fails like a corrupt file would.
class FakeDataset : public ImageDataset {
 public:
  explicit FakeDataset(int64_t n, int64_t bad_index = -1,
                       int64_t odd_size_index = -1)
      : n_(n), bad_index_(bad_index), odd_size_index_(odd_size_index) {}
  int64_t size() const override { return n_; }
  int64_t num_classes() const override { return 3; }
  absl::StatusOr<Example> Get(int64_t index) const override {
    {
      absl::MutexLock lock(&mu_);
      ++gets_;
    }
    if (index == bad_index_) {
      return absl::DataLossError("fake.bin: truncated at byte offset 1234");
    }
    const int64_t side = index == odd_size_index_ ? 5 : 4;
    return Example{torch::full({1, side, side}, index % 256, torch::kUInt8),
                   index % 3};
  }
  int64_t gets() const {
    absl::MutexLock lock(&mu_);
    return gets_;
  }
  // Waits up to 10 s for at least `n` Get() calls.
  bool WaitForGets(int64_t n) const {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return gets_ >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), absl::Seconds(10));
  }

 private:
  const int64_t n_;
  const int64_t bad_index_;
  const int64_t odd_size_index_;
  mutable absl::Mutex mu_;
  mutable int64_t gets_ ABSL_GUARDED_BY(mu_) = 0;
};

std::unique_ptr<PrefetchingLoader> MakeLoader(
    std::shared_ptr<const ImageDataset> ds, const LoaderOptions& o) {
  auto loader = PrefetchingLoader::Create(std::move(ds), o);
  EXPECT_TRUE(loader.ok()) << loader.status();
  return *std::move(loader);
}

// Drains one epoch; returns the example ids (pixel value) in order.
std::vector<Batch> Drain(PrefetchingLoader& loader) {
  std::vector<Batch> out;
  while (true) {
    auto b = loader.Next();
    EXPECT_TRUE(b.ok()) << b.status();
    if (!b.ok() || !b->has_value()) break;
    out.push_back(**b);
  }
  return out;
}

std::vector<int64_t> Ids(const std::vector<Batch>& batches) {
  std::vector<int64_t> ids;
  for (const Batch& b : batches) {
    for (int64_t i = 0; i < b.images.size(0); ++i) {
      ids.push_back(std::lround(b.images[i][0][0][0].item<float>() * 255));
    }
  }
  return ids;
}

TEST(PrefetchingLoaderTest, SequentialBatchesAndLastPartialBatch) {
  auto ds = std::make_shared<FakeDataset>(10);
  LoaderOptions o;
  o.batch_size = 4;
  auto loader = MakeLoader(ds, o);
  EXPECT_EQ(loader->num_examples(), 10);
  EXPECT_EQ(loader->num_batches(), 3);
  EXPECT_EQ(loader->num_classes(), 3);
  loader->StartEpoch(0);
  std::vector<Batch> batches = Drain(*loader);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].images.sizes(), (std::vector<int64_t>{4, 1, 4, 4}));
  EXPECT_EQ(batches[0].images.scalar_type(), torch::kFloat);
  EXPECT_EQ(batches[2].images.size(0), 2);
  EXPECT_THAT(Ids(batches),
              ::testing::ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
  EXPECT_TRUE(torch::equal(batches[1].labels,
                           torch::tensor({1, 2, 0, 1}, torch::kLong)));
  // At the end Next keeps returning nullopt.
  auto end = loader->Next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
}

TEST(PrefetchingLoaderTest, DropLast) {
  LoaderOptions o;
  o.batch_size = 4;
  o.drop_last = true;
  auto loader = MakeLoader(std::make_shared<FakeDataset>(10), o);
  EXPECT_EQ(loader->num_examples(), 8);
  EXPECT_EQ(Drain(*loader).size(), 2u);
}

TEST(PrefetchingLoaderTest, ShuffleIsAPermutationPerEpoch) {
  LoaderOptions o;
  o.batch_size = 7;
  o.shuffle = true;
  o.seed = 11;
  auto loader = MakeLoader(std::make_shared<FakeDataset>(50), o);
  loader->StartEpoch(0);
  std::vector<int64_t> e0 = Ids(Drain(*loader));
  loader->StartEpoch(1);
  std::vector<int64_t> e1 = Ids(Drain(*loader));
  EXPECT_NE(e0, e1);
  std::set<int64_t> unique(e0.begin(), e0.end());
  EXPECT_EQ(unique.size(), 50u);
  loader->StartEpoch(0);
  EXPECT_EQ(Ids(Drain(*loader)), e0);
}

TEST(PrefetchingLoaderTest, SameBatchesForAnyThreadCount) {
  std::vector<std::vector<Batch>> runs;
  for (int threads : {0, 1, 3}) {
    LoaderOptions o;
    o.batch_size = 5;
    o.shuffle = true;
    o.seed = 3;
    o.num_threads = threads;
    o.prefetch_batches = 2;
    o.transform.channels = 3;
    o.transform.random_crop_padding = 2;
    o.transform.random_horizontal_flip = true;
    o.transform.mean = {0.5};
    o.transform.std = {0.25};
    auto loader = MakeLoader(std::make_shared<FakeDataset>(23), o);
    loader->StartEpoch(2);
    runs.push_back(Drain(*loader));
  }
  for (size_t r = 1; r < runs.size(); ++r) {
    ASSERT_EQ(runs[r].size(), runs[0].size());
    for (size_t b = 0; b < runs[0].size(); ++b) {
      EXPECT_TRUE(torch::equal(runs[r][b].images, runs[0][b].images))
          << "run " << r << " batch " << b;
      EXPECT_TRUE(torch::equal(runs[r][b].labels, runs[0][b].labels));
    }
  }
  EXPECT_EQ(runs[0][0].images.sizes(), (std::vector<int64_t>{5, 3, 4, 4}));
}

TEST(PrefetchingLoaderTest, StartEpochDiscardsTheRestOfTheEpoch) {
  LoaderOptions o;
  o.batch_size = 2;
  auto loader = MakeLoader(std::make_shared<FakeDataset>(10), o);
  loader->StartEpoch(0);
  ASSERT_TRUE(loader->Next().ok());
  auto second = loader->Next();
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_THAT(Ids({**second}), ::testing::ElementsAre(2, 3));
  loader->StartEpoch(1);
  EXPECT_EQ(Ids(Drain(*loader)).size(), 10u);
}

TEST(PrefetchingLoaderTest, BadExampleFailsItsBatchOnly) {
  LoaderOptions o;
  o.batch_size = 3;
  o.num_threads = 2;
  auto loader =
      MakeLoader(std::make_shared<FakeDataset>(9, /*bad_index=*/4), o);
  auto first = loader->Next();
  ASSERT_TRUE(first.ok());
  auto second = loader->Next();
  EXPECT_EQ(second.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(second.status().message(), HasSubstr("fake.bin"));
  EXPECT_THAT(second.status().message(), HasSubstr("byte offset 1234"));
  auto third = loader->Next();
  ASSERT_TRUE(third.ok() && third->has_value());
  EXPECT_THAT(Ids({**third}), ::testing::ElementsAre(6, 7, 8));
}

TEST(PrefetchingLoaderTest, MixedSizesWithoutResizeAreAnError) {
  LoaderOptions o;
  o.batch_size = 4;
  auto loader =
      MakeLoader(std::make_shared<FakeDataset>(4, -1, /*odd_size_index=*/2), o);
  auto b = loader->Next();
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(b.status().message(), HasSubstr("resize"));
  o.transform.resize = 4;
  auto resized =
      MakeLoader(std::make_shared<FakeDataset>(4, -1, /*odd_size_index=*/2), o);
  auto ok = resized->Next();
  ASSERT_TRUE(ok.ok()) << ok.status();
}

TEST(PrefetchingLoaderTest, DecodesAheadOnlyUpToTheWindow) {
  auto ds = std::make_shared<FakeDataset>(100);
  LoaderOptions o;
  o.batch_size = 1;
  o.num_threads = 3;
  o.prefetch_batches = 2;
  auto loader = MakeLoader(ds, o);
  EXPECT_EQ(ds->gets(), 0);  // idle until the first epoch starts
  loader->StartEpoch(0);
  ASSERT_TRUE(ds->WaitForGets(2));
  // Give idle workers a chance to overrun the window; they must not.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(ds->gets(), 2);
  ASSERT_TRUE(loader->Next().ok());
  ASSERT_TRUE(ds->WaitForGets(3));
}

TEST(PrefetchingLoaderTest, RejectsBadOptions) {
  auto ds = std::make_shared<FakeDataset>(4);
  LoaderOptions o;
  o.batch_size = 0;
  EXPECT_EQ(PrefetchingLoader::Create(ds, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = LoaderOptions();
  o.prefetch_batches = 0;
  EXPECT_EQ(PrefetchingLoader::Create(ds, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = LoaderOptions();
  o.transform.std = {1.0};
  EXPECT_EQ(PrefetchingLoader::Create(ds, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PrefetchingLoader::Create(std::make_shared<FakeDataset>(0), {})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pruneserve::data
