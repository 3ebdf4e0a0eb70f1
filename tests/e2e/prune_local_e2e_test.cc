// `prunectl prune --local` as a user runs it: the real prunectl binary on a
// zoo model file, pruning once from calibration data, running prune ->
// fine-tune rounds on a Fashion-MNIST subset, and refusing bad flags with the
// field named and no output written.
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve {
namespace {

using testing::CommandResult;

constexpr char kFashion[] = "/usr/share/datasets/fashion-mnist";

// Proto JSON writes int64 as a string.
int64_t Int(const nlohmann::json& j) {
  return j.is_string() ? std::stoll(j.get<std::string>()) : j.get<int64_t>();
}

class PruneLocalE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(std::string(kFashion) +
                                 "/train-images-idx3-ubyte.gz")) {
      GTEST_SKIP() << "dataset-fashion-mnist is not installed";
    }
    model_ = dir_.Join("vgg.pt");
    CommandResult r = testing::RunPrunectl(absl::StrCat(
        "zoo build vgg11_bn --in-channels 1 --input-size 28 --width 0.25 "
        "--seed 1 --out ",
        model_));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  // `prune --local` on the zoo model, writing `out`, with `flags`.
  CommandResult Prune(const std::string& out, const std::string& flags) {
    return testing::RunPrunectl(
        absl::StrCat("prune --local ", model_, " -o ", out,
                     " --input-shape 1,1,28,28 --threads "
                     "1 --loader-threads 1 ",
                     flags));
  }

  static std::string Data(const std::string& split) {
    return absl::StrCat("fashion-mnist:", kFashion, ":", split);
  }

  testing::TempDir dir_;
  std::string model_;
};

TEST_F(PruneLocalE2eTest, PrunesOnceFromCalibrationData) {
  const std::string out = dir_.Join("once.pt");
  CommandResult r =
      Prune(out, absl::StrCat("--calib ", Data("train"), " --calib-images 64"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::filesystem::file_size(out) > 0);
  // The per-layer report and the before/after table.
  EXPECT_NE(r.output.find("sparsity"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("fine-tuning: none"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("wrote " + out), std::string::npos) << r.output;
  // The spec's defaults are the paper's: refined policy, BN |gamma|, under
  // the authors' VGG rule for this plain chain. A freshly built model's
  // gammas are all 1: every threshold ties, fewer than two channels pass,
  // and the scripts' fallback keeps every channel with |gamma| > 0.
  EXPECT_NE(r.output.find("policy=refined criterion=bn_gamma"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("refined rule: plain (VGG script)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("0 of 8 groups pruned"), std::string::npos)
      << r.output;

  // The same flags with --json give the report as data; with filter norms
  // (distinct even untrained) the refined ratios remove channels.
  r = Prune(dir_.Join("once_json.pt"),
            absl::StrCat("--json -q --criterion l1 --calib ", Data("train"),
                         " --calib-images 64"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto report = nlohmann::json::parse(r.output);
  ASSERT_EQ(report["rounds"].size(), 1u);
  const auto& pruning = report["rounds"][0]["pruning"];
  EXPECT_EQ(pruning["policy"], "refined");
  EXPECT_EQ(pruning["criterion"], "l1");
  EXPECT_EQ(Int(pruning["calibration_examples"]), 64);
  EXPECT_LT(Int(report["final"]["params"]), Int(report["baseline"]["params"]));
  EXPECT_GT(report["flops_reduction"].get<double>(), 0.2);
}

TEST_F(PruneLocalE2eTest, FineTunesInRoundsAndRecovers) {
  const std::string out = dir_.Join("tuned.pt");
  CommandResult r =
      Prune(out, absl::StrCat("--json -q --train ", Data("train"), " --eval ",
                              Data("test"),
                              " --train-limit 1000 --eval-limit 300 --epochs 1 "
                              "--rounds 2 --policy uniform --ratio 0.25 "
                              "--criterion l1 --batch-size 32 --seed 5"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(std::filesystem::exists(out));
  const auto report = nlohmann::json::parse(r.output);
  ASSERT_EQ(report["rounds"].size(), 2u);
  for (const auto& round : report["rounds"]) {
    EXPECT_EQ(Int(round["finetune_epochs"]), 1);
    EXPECT_EQ(Int(round["after_finetune"]["eval_examples"]), 300);
  }
  // Each round removes more; fine-tuning lifts the freshly pruned model.
  EXPECT_LT(Int(report["rounds"][1]["after_prune"]["params"]),
            Int(report["rounds"][0]["after_prune"]["params"]));
  const auto& first = report["rounds"][0];
  EXPECT_GT(first["after_finetune"]["top1_accuracy"].get<double>(),
            first["after_prune"]["top1_accuracy"].get<double>());
  EXPECT_NE(report["finetune_schedule"].get<std::string>().find("nesterov"),
            std::string::npos)
      << report["finetune_schedule"];
}

TEST_F(PruneLocalE2eTest, LatencyTargetSearchesTheMacTarget) {
  const std::string out = dir_.Join("fast.pt");
  CommandResult r = Prune(
      out, absl::StrCat("--json -q --policy budgeted --target-latency 0.3 "
                        "--criterion l1 --calib ",
                        Data("train"), " --calib-images 32"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(std::filesystem::exists(out));
  const auto report = nlohmann::json::parse(r.output);
  const auto& pruning = report["rounds"][0]["pruning"];
  EXPECT_EQ(pruning["policy"], "budgeted");
  // Timings decide nothing here: the search ran and said what it chose.
  EXPECT_GT(pruning["latency_dense_ms"].get<double>(), 0.0);
  EXPECT_GT(pruning["latency_pruned_ms"].get<double>(), 0.0);
  EXPECT_GT(Int(pruning["latency_probes"]), 0);
  const double flops_target = pruning["latency_flops_target"].get<double>();
  EXPECT_GT(flops_target, 0.0);
  EXPECT_GE(report["flops_reduction"].get<double>(), flops_target - 1e-9);
}

TEST_F(PruneLocalE2eTest, BadFlagsNameTheFieldAndWriteNothing) {
  const std::string out = dir_.Join("bad.pt");
  struct Case {
    std::string flags;
    std::string message;
  };
  const Case cases[] = {
      {"--policy uniform --ratio 1.5", "pruning.ratio"},
      {"--policy sideways", "pruning.policy"},
      {"--epochs 2", "data.train"},
      {"--train fashion-mnist:/no/such/dir:train --epochs 1",
       "/no/such/dir does not exist"},
      {"--policy uniform --exclude '(('", "pruning.exclude"},
      {"--policy lamp --target-latency 0.3", "pruning.target_latency"},
      {absl::StrCat("--policy budgeted --target-latency 0.3 --rounds 2 "
                    "--calib ",
                    Data("train")),
       "is met in one round"},
  };
  for (const Case& c : cases) {
    CommandResult r = Prune(out, c.flags);
    EXPECT_EQ(r.exit_code, 1) << c.flags << "\n" << r.output;
    EXPECT_NE(r.output.find("INVALID_ARGUMENT"), std::string::npos)
        << c.flags << "\n"
        << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.flags << "\n"
                                                           << r.output;
    EXPECT_FALSE(std::filesystem::exists(out)) << c.flags;
  }
}

}  // namespace
}  // namespace pruneserve
