#include "core/torchscript/torchscript_inspector.h"

#include <fstream>

#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tiny_models.h"

namespace pruneserve {
namespace {

TEST(TorchScriptInspectorTest, RecordsParametersAndOutputShape) {
  testing::TempDir dir;
  std::string path = dir.Join("tiny.pt");
  testing::WriteTinyCnn(path);
  v1::ModelVersion model;
  model.add_example_input_shape(2);
  model.add_example_input_shape(1);
  model.add_example_input_shape(28);
  model.add_example_input_shape(28);
  TorchScriptInspector inspector;
  ASSERT_TRUE(inspector.Inspect(path, &model).ok());
  // conv 4*1*3*3 + bn 4+4 + fc 10*4+10 (buffers are not parameters).
  EXPECT_EQ(model.parameter_count(), 36 + 8 + 50);
  EXPECT_EQ(model.parameter_bytes(), (36 + 8 + 50) * 4);
  EXPECT_EQ(model.forward_input_count(), 1);
  ASSERT_EQ(model.output_shape_size(), 2);
  EXPECT_EQ(model.output_shape(0), 2);
  EXPECT_EQ(model.output_shape(1), 10);
  // conv: 2 images * 4 out * 28*28 positions * 9 MACs; fc: 2 * 10 * 4.
  EXPECT_EQ(model.flops(), 2 * 4 * 28 * 28 * 9 + 2 * 10 * 4);
}

TEST(TorchScriptInspectorTest, GarbageIsInvalidArgumentNamingTheProblem) {
  testing::TempDir dir;
  std::string path = dir.Join("junk.pt");
  std::ofstream(path) << "this is not a zip archive";
  v1::ModelVersion model;
  absl::Status s = TorchScriptInspector().Inspect(path, &model);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("not a loadable TorchScript archive"),
            std::string::npos);
  // c10's C++ backtrace is not part of the message.
  EXPECT_EQ(s.message().find("Exception raised from"), std::string::npos);
}

TEST(TorchScriptInspectorTest, WrongExampleShapeIsInvalidArgument) {
  testing::TempDir dir;
  std::string path = dir.Join("tiny.pt");
  testing::WriteTinyCnn(path);
  v1::ModelVersion model;
  for (int64_t d : {1, 3, 28, 28}) model.add_example_input_shape(d);  // 3 != 1
  absl::Status s = TorchScriptInspector().Inspect(path, &model);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("[1,3,28,28]"), std::string::npos) << s;
}

TEST(TorchScriptInspectorTest, HugeExampleShapeIsRefusedBeforeRunning) {
  testing::TempDir dir;
  std::string path = dir.Join("tiny.pt");
  testing::WriteTinyCnn(path);
  v1::ModelVersion model;
  for (int64_t d : {1024, 1, 1024, 1024}) model.add_example_input_shape(d);
  absl::Status s = TorchScriptInspector().Inspect(path, &model);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("limit"), std::string::npos);
}

}  // namespace
}  // namespace pruneserve
