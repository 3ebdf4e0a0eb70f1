#include "core/inference/torch_backend.h"

#include <torch/script.h>

#include <cstring>

#include "core/inference/instance_pool.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tiny_models.h"

namespace pruneserve::inference {
namespace {

TEST(TorchBackendTest, SpecsComeFromTheExampleShape) {
  testing::TempDir dir;
  testing::WriteTinyCnn(dir.Join("m.pt"));
  auto backend = TorchBackend::Create({dir.Join("m.pt"), {1, 1, 28, 28}});
  ASSERT_TRUE(backend.ok()) << backend.status();
  ASSERT_EQ((*backend)->inputs().size(), 1u);
  EXPECT_EQ((*backend)->inputs()[0].shape,
            (std::vector<int64_t>{-1, 1, 28, 28}));
  ASSERT_EQ((*backend)->outputs().size(), 1u);
  EXPECT_EQ((*backend)->outputs()[0].shape, (std::vector<int64_t>{-1, 10}));
}

TEST(TorchBackendTest, PoolOutputMatchesDirectForward) {
  testing::TempDir dir;
  testing::WriteTinyCnn(dir.Join("m.pt"), 3);
  auto backend = TorchBackend::Create({dir.Join("m.pt"), {1, 1, 28, 28}});
  ASSERT_TRUE(backend.ok());
  auto pool = InstancePool::Create(
      std::shared_ptr<InferenceBackend>(std::move(*backend)), {});
  ASSERT_TRUE(pool.ok());

  torch::manual_seed(0);
  at::Tensor x = torch::randn({3, 1, 28, 28});
  HostTensor in;
  in.name = "input__0";
  in.shape = {3, 1, 28, 28};
  in.bytes.assign(static_cast<const char*>(x.data_ptr()), x.numel() * 4);
  InferenceRequest request;
  request.inputs.push_back(in);
  InferenceResult r = (*pool)->Infer(std::move(request));
  ASSERT_TRUE(r.outputs.ok()) << r.outputs.status();
  const HostTensor& out = (*r.outputs)[0];
  ASSERT_EQ(out.shape, (std::vector<int64_t>{3, 10}));

  torch::jit::Module m = torch::jit::load(dir.Join("m.pt"));
  m.eval();
  at::Tensor expected = m.forward({x}).toTensor();
  at::Tensor got = torch::from_blob(const_cast<char*>(out.bytes.data()),
                                    {3, 10}, at::kFloat);
  EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-6));
}

TEST(TorchBackendTest, BadInputShapeIsInvalidArgumentWithShapes) {
  testing::TempDir dir;
  testing::WriteTinyCnn(dir.Join("m.pt"));
  auto backend = TorchBackend::Create({dir.Join("m.pt"), {}});
  ASSERT_TRUE(backend.ok());
  auto session = (*backend)->CreateSession();
  ASSERT_TRUE(session.ok());
  HostTensor in;
  in.name = "input__0";
  in.shape = {1, 3, 8, 8};  // the model takes 1 channel
  in.bytes.assign(3 * 8 * 8 * 4, '\0');
  auto out = (*session)->Run({in});
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("[1,3,8,8]"), std::string::npos);
}

TEST(TorchBackendTest, GarbageArchiveIsInvalidArgument) {
  testing::TempDir dir;
  FILE* f = std::fopen(dir.Join("junk.pt").c_str(), "w");
  std::fputs("junk", f);
  std::fclose(f);
  auto backend = TorchBackend::Create({dir.Join("junk.pt"), {}});
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pruneserve::inference
