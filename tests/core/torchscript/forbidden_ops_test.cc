#include "core/torchscript/forbidden_ops.h"

#include <torch/script.h>

#include "gtest/gtest.h"
#include "tests/testing/hostile_models.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tiny_models.h"

namespace pruneserve {
namespace {

// Loading is safe here: none of these archives runs code at load time.
torch::jit::Module Load(const std::string& path) {
  return torch::jit::load(path, torch::kCPU);
}

TEST(ForbiddenOpsTest, PlainCnnPasses) {
  testing::TempDir dir;
  testing::WriteTinyCnn(dir.Join("tiny.pt"));
  EXPECT_TRUE(CheckForbiddenOps(Load(dir.Join("tiny.pt"))).ok());
}

TEST(ForbiddenOpsTest, FromFileInForwardIsRefusedNamingOpAndFunction) {
  testing::TempDir dir;
  testing::WriteFromFileModel(dir.Join("m.pt"));
  absl::Status s = CheckForbiddenOps(Load(dir.Join("m.pt")));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("forbidden op aten::from_file in "
                             "__torch__.FromFile.forward: it reads a file"),
            std::string::npos)
      << s;
}

TEST(ForbiddenOpsTest, OpHiddenInAnotherMethodIsFound) {
  torch::jit::Module m("Hidden");
  m.define(R"JIT(
    def stash(self, x):
        torch.save(x, "/tmp/pruneserve_forbidden_ops_test")
        return x
    def forward(self, x):
        return self.stash(x)
  )JIT");
  absl::Status s = CheckForbiddenOps(m);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("forbidden op aten::save"), std::string::npos)
      << s;
}

TEST(ForbiddenOpsTest, DenyListIsAnOption) {
  testing::TempDir dir;
  testing::WriteTinyCnn(dir.Join("tiny.pt"));
  ForbiddenOpsOptions options;
  options.ops.push_back({"aten::relu", "test reason"});
  absl::Status s = CheckForbiddenOps(Load(dir.Join("tiny.pt")), options);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("aten::relu in __torch__.TinyCnn.forward: test "
                             "reason"),
            std::string::npos)
      << s;
}

}  // namespace
}  // namespace pruneserve
