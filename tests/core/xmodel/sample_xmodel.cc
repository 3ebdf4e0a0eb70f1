#include "tests/core/xmodel/sample_xmodel.h"

#include <initializer_list>
#include <string>

namespace pruneserve::xmodel::testing {
namespace {

xir::OpNode* AddOp(xir::Graph& g, const std::string& name,
                   const std::string& type,
                   std::initializer_list<uint32_t> dims,
                   std::initializer_list<std::string> inputs, int bits = 8) {
  xir::OpNode* op = g.add_op_node();
  op->set_op_name(name);
  op->set_op_type(type);
  if (inputs.size() > 0) {
    xir::OpArg* arg = op->add_args();
    arg->set_arg_name("input");
    for (const std::string& in : inputs) arg->add_arg_ops(in);
  }
  xir::Tensor* t = op->mutable_output_tensor();
  t->set_tensor_name(name);
  for (uint32_t d : dims) t->add_tensor_dim(d);
  t->set_tensor_bit_width(bits);
  return op;
}

xir::SubGraph* AddChild(xir::SubGraph* parent, const std::string& name,
                        const std::string& device,
                        std::initializer_list<std::string> ops) {
  xir::SubGraph* child = parent->add_subg_child();
  child->set_subgraph_name(name);
  for (const std::string& op : ops) child->add_op_name(op);
  (*child->mutable_subg_attr())["device"].set_string_value(device);
  return child;
}

}  // namespace

xir::Graph SampleGraph(bool dpu) {
  xir::Graph g;
  g.set_graph_name("tiny_cnn");
  AddOp(g, "input", "data-fix", {1, 28, 28, 1}, {});
  AddOp(g, "conv_w", "const-fix", {8, 3, 3, 1}, {});
  xir::OpNode* conv = AddOp(g, "conv", "conv2d-fix", {1, 28, 28, 8}, {"input"});
  xir::OpArg* w = conv->add_args();
  w->set_arg_name("weights");
  w->add_arg_ops("conv_w");
  (*conv->mutable_op_attr())["kernel"].set_int32_value(3);
  AddOp(g, "pool", "avgpool2d-fix", {1, 1, 1, 8}, {"conv"});
  AddOp(g, "fc_w", "const-fix", {10, 8}, {});
  AddOp(g, "fc", "matmul-fix", {1, 10}, {"pool", "fc_w"});
  xir::SubGraph* root = g.mutable_subg_root();
  root->set_subgraph_name("root");
  for (const auto& op : g.op_node()) root->add_op_name(op.op_name());
  if (dpu) {
    AddChild(root, "subgraph_input", "USER", {"input"});
    AddChild(root, "subgraph_conv", "DPU",
             {"conv_w", "conv", "pool", "fc_w", "fc"});
  }
  return g;
}

}  // namespace pruneserve::xmodel::testing
