// Checkpoint framing, retention and crash recovery: a torn or corrupted
// newest file and stray temp files are skipped in favour of the newest
// intact checkpoint.
#include "core/training/checkpoint_store.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/util/file_util.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::training {
namespace {

TEST(CheckpointFrameTest, RoundTripsAndDetectsDamage) {
  const std::string payload("model\0bytes\n", 12);
  const std::string frame = EncodeCheckpointFrame(payload);
  auto decoded = DecodeCheckpointFrame(frame);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, payload);

  std::string flipped = frame;
  flipped.back() ^= 0x01;
  EXPECT_EQ(DecodeCheckpointFrame(flipped).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(
      DecodeCheckpointFrame(frame.substr(0, frame.size() - 3)).status().code(),
      absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeCheckpointFrame(frame.substr(0, 10)).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeCheckpointFrame("").status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(CheckpointStoreTest, EmptyDirectoryHasNoCheckpoint) {
  pruneserve::testing::TempDir dir;
  CheckpointStoreOptions options;
  options.directory = dir.Join("ckpts");
  auto store = CheckpointStore::Create(options);
  ASSERT_TRUE(store.ok()) << store.status();
  auto latest = (*store)->ReadLatestValid();
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_FALSE(latest->has_value());
}

TEST(CheckpointStoreTest, KeepsNewestAndPrunesOld) {
  pruneserve::testing::TempDir dir;
  CheckpointStoreOptions options;
  options.directory = dir.path();
  options.keep_last = 2;
  auto store = CheckpointStore::Create(options);
  ASSERT_TRUE(store.ok());
  for (int epoch = 1; epoch <= 4; ++epoch) {
    ASSERT_TRUE(
        (*store)->Write(epoch, "payload " + std::to_string(epoch)).ok());
  }
  auto epochs = (*store)->ListEpochs();
  ASSERT_TRUE(epochs.ok());
  EXPECT_EQ(*epochs, (std::vector<int64_t>{3, 4}));
  auto latest = (*store)->ReadLatestValid();
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->epoch, 4);
  EXPECT_EQ((*latest)->payload, "payload 4");
  EXPECT_EQ((*latest)->path, dir.Join("ckpt-00000004.ckpt"));
}

TEST(CheckpointStoreTest, TornNewestFallsBackToPrevious) {
  pruneserve::testing::TempDir dir;
  CheckpointStoreOptions options;
  options.directory = dir.path();
  options.keep_last = 0;
  auto store = CheckpointStore::Create(options);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Write(1, "epoch one").ok());
  ASSERT_TRUE((*store)->Write(2, "epoch two").ok());
  // A crash mid-copy by some other tool: the newest file is cut short.
  const std::string newest = (*store)->PathForEpoch(2);
  auto bytes = ReadFileToString(newest);
  ASSERT_TRUE(bytes.ok());
  { std::ofstream(newest, std::ios::trunc) << bytes->substr(0, 20); }
  // A future checkpoint with garbage, and a temp file from a killed write.
  { std::ofstream(dir.Join("ckpt-00000003.ckpt")) << "garbage"; }
  { std::ofstream(dir.Join("ckpt-00000004.ckpt.tmp.4242")) << "partial"; }

  std::vector<std::string> skipped;
  auto latest = (*store)->ReadLatestValid(&skipped);
  ASSERT_TRUE(latest.ok()) << latest.status();
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->epoch, 1);
  EXPECT_EQ((*latest)->payload, "epoch one");
  EXPECT_EQ(skipped,
            (std::vector<std::string>{dir.Join("ckpt-00000003.ckpt"), newest}));
}

TEST(CheckpointStoreTest, RejectsBadOptions) {
  CheckpointStoreOptions options;
  EXPECT_EQ(CheckpointStore::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  pruneserve::testing::TempDir dir;
  options.directory = dir.path();
  options.keep_last = 1;
  EXPECT_EQ(CheckpointStore::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.keep_last = 2;
  options.prefix = "a/b";
  EXPECT_EQ(CheckpointStore::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pruneserve::training
