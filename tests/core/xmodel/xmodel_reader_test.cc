#include "core/xmodel/xmodel_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "tests/core/xmodel/sample_xmodel.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::xmodel {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::SampleGraph;

TEST(XmodelReaderTest, SummarisesACompiledGraph) {
  auto summary = ReadXmodel(SampleGraph().SerializeAsString());
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->graph_name, "tiny_cnn");
  EXPECT_EQ(summary->op_count, 6);
  ASSERT_EQ(summary->inputs.size(), 1u);
  EXPECT_EQ(summary->inputs[0].op_name, "input");
  EXPECT_THAT(summary->inputs[0].shape, ElementsAre(1, 28, 28, 1));
  EXPECT_EQ(summary->inputs[0].bit_width, 8);
  ASSERT_EQ(summary->outputs.size(), 1u);
  EXPECT_EQ(summary->outputs[0].op_name, "fc");
  EXPECT_THAT(summary->outputs[0].shape, ElementsAre(1, 10));
  ASSERT_EQ(summary->partitions.size(), 2u);
  EXPECT_EQ(summary->partitions[0].name, "subgraph_input");
  EXPECT_EQ(summary->partitions[0].device, "USER");
  EXPECT_EQ(summary->partitions[1].device, "DPU");
  EXPECT_EQ(summary->partitions[1].op_count, 5);
  EXPECT_EQ(summary->DpuPartitionCount(), 1);
  // conv_w 8*3*3*1 = 72 and fc_w 10*8 = 80 elements, 8 bits each.
  EXPECT_EQ(summary->parameter_count, 152);
  EXPECT_EQ(summary->parameter_bytes, 152);
}

TEST(XmodelReaderTest, QuantizerOutputHasNoPartitions) {
  auto summary = ReadXmodel(SampleGraph(/*dpu=*/false).SerializeAsString());
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_TRUE(summary->partitions.empty());
  EXPECT_EQ(summary->DpuPartitionCount(), 0);
}

TEST(XmodelReaderTest, RejectsEmptyAndGarbage) {
  auto empty = ReadXmodel("");
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(empty.status().message(), HasSubstr("empty"));

  auto garbage = ReadXmodel("bad bytes");
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(garbage.status().message(), HasSubstr("XIR graph"));

  // A zip (TorchScript archive) header is not an XIR graph either.
  auto zip = ReadXmodel(std::string("PK\x03\x04\x14\x00\x00\x00", 8));
  EXPECT_EQ(zip.status().code(), absl::StatusCode::kInvalidArgument);

  // Bytes that happen to parse but carry no ops.
  xir::Graph no_ops;
  no_ops.set_graph_name("g");
  auto s = ReadXmodel(no_ops.SerializeAsString());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("no ops"));
}

TEST(XmodelReaderTest, RejectsInconsistentGraphs) {
  xir::Graph dangling = SampleGraph();
  dangling.mutable_op_node(2)->mutable_args(0)->set_arg_ops(0, "ghost");
  auto s = ReadXmodel(dangling.SerializeAsString());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("'conv' reads 'ghost'"));

  xir::Graph duplicate = SampleGraph();
  duplicate.mutable_op_node(1)->set_op_name("input");
  s = ReadXmodel(duplicate.SerializeAsString());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("two ops named 'input'"));

  xir::Graph bad_subgraph = SampleGraph();
  bad_subgraph.mutable_subg_root()->mutable_subg_child(1)->add_op_name("nope");
  s = ReadXmodel(bad_subgraph.SerializeAsString());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(),
              HasSubstr("'subgraph_conv' lists op 'nope'"));

  xir::Graph no_root = SampleGraph();
  no_root.clear_subg_root();
  s = ReadXmodel(no_root.SerializeAsString());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("no root subgraph"));
}

TEST(XmodelReaderTest, RejectsAConstantWhoseSizeOverflows) {
  // conv_w (op 1) claims 2^32-1 x 2^32-1 x 111 elements: more than int64.
  xir::Graph huge = SampleGraph();
  auto* dims = huge.mutable_op_node(1)->mutable_output_tensor();
  dims->clear_tensor_dim();
  dims->add_tensor_dim(0xffffffffu);
  dims->add_tensor_dim(0xffffffffu);
  dims->add_tensor_dim(111);
  auto s = ReadXmodel(huge.SerializeAsString());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(),
              HasSubstr("constant 'conv_w' has a shape whose size"));

  // Fits in elements, but not once multiplied by the bit width.
  xir::Graph wide = SampleGraph();
  dims = wide.mutable_op_node(1)->mutable_output_tensor();
  dims->clear_tensor_dim();
  dims->add_tensor_dim(0xffffffffu);
  dims->add_tensor_dim(0x7fffffffu);
  dims->set_tensor_bit_width(8);
  s = ReadXmodel(wide.SerializeAsString());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(XmodelReaderTest, ReadsFilesAndEnforcesTheSizeLimit) {
  pruneserve::testing::TempDir dir;
  const std::string path = dir.Join("net.xmodel");
  const std::string bytes = SampleGraph().SerializeAsString();
  std::ofstream(path, std::ios::binary) << bytes;
  auto ok = ReadXmodelFile(path);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->op_count, 6);
  auto big = ReadXmodelFile(path, static_cast<int64_t>(bytes.size()) - 1);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadXmodelFile(dir.Join("missing.xmodel")).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace pruneserve::xmodel
