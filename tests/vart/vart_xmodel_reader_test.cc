// The repository's own xmodel reader (core/xmodel, no XIR dependency)
// against the real xir::Graph::deserialize, on every fixture the VART tests
// write: graph inputs and outputs, partitions and weight counts must agree,
// so the reader stays faithful to what the runtime loads.
#include <algorithm>
#include <memory>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>
#include <xir/graph/graph.hpp>
#include <xir/graph/subgraph.hpp>
#include <xir/op/op.hpp>
#include <xir/tensor/tensor.hpp>

#include "core/xmodel/xmodel_reader.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"
#include "tests/vart/vart_fixtures.h"

namespace pruneserve {
namespace {

// name, op type, shape, bit width: sortable, for order-free comparison.
using TensorKey =
    std::tuple<std::string, std::string, std::vector<int64_t>, int32_t>;
using PartitionKey = std::tuple<std::string, std::string, int64_t>;

TensorKey KeyOf(const xir::Op* op) {
  const xir::Tensor* t = op->get_output_tensor();
  const std::vector<std::int32_t> dims = t->get_shape();
  std::vector<int64_t> shape(dims.begin(), dims.end());
  return {op->get_name(), op->get_type(), shape, t->get_data_type().bit_width};
}

TensorKey KeyOf(const xmodel::XmodelTensorInfo& info) {
  return {info.op_name, info.op_type, info.shape, info.bit_width};
}

struct Fixture {
  std::string name;
  testing::VartFixtureOptions options;
};

void PrintTo(const Fixture& f, std::ostream* os) { *os << f.name; }

class XmodelReaderAgreesWithXir : public ::testing::TestWithParam<Fixture> {};

TEST_P(XmodelReaderAgreesWithXir, OnInputsOutputsPartitionsAndWeights) {
  testing::TempDir dir;
  const std::string path = dir.Join(GetParam().name + ".xmodel");
  ASSERT_TRUE(testing::WriteMultiFixture(path, GetParam().options).ok());

  auto summary = xmodel::ReadXmodelFile(path);
  ASSERT_TRUE(summary.ok()) << summary.status();
  std::unique_ptr<xir::Graph> graph = xir::Graph::deserialize(path);

  EXPECT_EQ(summary->graph_name, graph->get_name());
  EXPECT_EQ(summary->op_count, graph->get_op_num());

  std::vector<TensorKey> xir_inputs, xir_outputs, ours;
  int64_t xir_weights = 0, xir_weight_bytes = 0;
  for (const xir::Op* op : graph->get_head_ops()) {
    const std::string type = op->get_type();
    if (type == "data" || type == "data-fix") xir_inputs.push_back(KeyOf(op));
  }
  for (const xir::Op* op : graph->get_tail_ops()) {
    xir_outputs.push_back(KeyOf(op));
  }
  for (const xir::Op* op : graph->get_root_subgraph()->get_ops()) {
    const std::string type = op->get_type();
    if (type == "const" || type == "const-fix") {
      xir_weights += op->get_output_tensor()->get_element_num();
      xir_weight_bytes +=
          static_cast<int64_t>(op->get_output_tensor()->get_data_size());
    }
  }
  std::sort(xir_inputs.begin(), xir_inputs.end());
  std::sort(xir_outputs.begin(), xir_outputs.end());

  for (const auto& t : summary->inputs) ours.push_back(KeyOf(t));
  std::sort(ours.begin(), ours.end());
  EXPECT_EQ(ours, xir_inputs);
  ours.clear();
  for (const auto& t : summary->outputs) ours.push_back(KeyOf(t));
  std::sort(ours.begin(), ours.end());
  EXPECT_EQ(ours, xir_outputs);
  // The fixture's own numbers, so the comparison cannot pass vacuously.
  const bool single = GetParam().options.single_input;
  EXPECT_EQ(xir_inputs.size(), single ? 1u : 2u);
  EXPECT_EQ(xir_outputs.size(), single ? 2u : 3u);

  EXPECT_EQ(summary->parameter_count, xir_weights);
  EXPECT_EQ(summary->parameter_bytes, xir_weight_bytes);
  EXPECT_EQ(summary->parameter_count, single ? 0 : testing::kVectorLen);

  std::vector<PartitionKey> xir_parts, our_parts;
  for (const xir::Subgraph* child :
       graph->get_root_subgraph()->get_children()) {
    const std::string device =
        child->has_attr("device") ? child->get_attr<std::string>("device") : "";
    xir_parts.emplace_back(child->get_name(), device, child->get_op_num());
  }
  for (const auto& p : summary->partitions) {
    our_parts.emplace_back(p.name, p.device, p.op_count);
  }
  std::sort(xir_parts.begin(), xir_parts.end());
  std::sort(our_parts.begin(), our_parts.end());
  EXPECT_EQ(our_parts, xir_parts);
  EXPECT_EQ(summary->DpuPartitionCount(), GetParam().options.dpu_subgraphs);
}

std::vector<Fixture> AllFixtures() {
  std::vector<Fixture> all;
  testing::VartFixtureOptions o;
  all.push_back({"batch3_ext", o});
  o.runner_batch = 1;
  o.runner_ext = false;
  all.push_back({"batch1_plain", o});
  o.runner_batch = 5;
  o.behaviour = "hang";
  all.push_back({"batch5_hang", o});
  o = {};
  o.dpu_subgraphs = 2;
  all.push_back({"two_dpu_subgraphs", o});
  o = {};
  o.single_input = true;
  all.push_back({"single_input", o});
  return all;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, XmodelReaderAgreesWithXir,
                         ::testing::ValuesIn(AllFixtures()),
                         [](const ::testing::TestParamInfo<Fixture>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace pruneserve
