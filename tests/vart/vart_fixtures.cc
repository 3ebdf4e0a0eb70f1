// See vart_fixtures.h.
#include "tests/vart/vart_fixtures.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <map>
#include <memory>
#include <set>
#include <xir/attrs/attrs.hpp>
#include <xir/graph/graph.hpp>
#include <xir/graph/subgraph.hpp>
#include <xir/op/op.hpp>
#include <xir/tensor/tensor.hpp>

#include "absl/strings/str_cat.h"

namespace pruneserve::testing {
namespace {

const xir::DataType kXint8{xir::DataType::XINT, 8};

std::unique_ptr<xir::Attrs> Attrs(const std::vector<std::int32_t>& shape) {
  auto attrs = xir::Attrs::create();
  attrs->set_attr<std::vector<std::int32_t>>("shape", shape);
  attrs->set_attr<std::string>("data_type", "XINT8");
  return attrs;
}

void SetFixPoint(xir::Op* op, int fix_point) {
  op->get_output_tensor()->set_attr<int>("fix_point", fix_point);
}

// The subgraphs (children of the root) holding exactly `names`.
xir::Subgraph* Merge(xir::Subgraph* root, const std::set<std::string>& names) {
  std::set<xir::Subgraph*> members;
  for (xir::Subgraph* child : root->get_children()) {
    for (const xir::Op* op : child->get_ops()) {
      if (names.count(op->get_name())) members.insert(child);
    }
  }
  return members.size() == 1 ? *members.begin() : root->merge_children(members);
}

// clamp(floor(v * 2^fix_point + 0.5), -128, 127): the DPU's rounding.
int Quantize(double v, int fix_point) {
  const double q = std::floor(std::ldexp(v, fix_point) + 0.5);
  return static_cast<int>(std::max(-128.0, std::min(127.0, q)));
}

double Real(int q, int fix_point) { return std::ldexp(double(q), -fix_point); }

}  // namespace

std::vector<int8_t> FixtureWeights() { return {-7, 0, 5, 100, -128}; }

absl::Status WriteMultiFixture(const std::string& path,
                               const VartFixtureOptions& options) {
  try {
    std::unique_ptr<xir::Graph> graph = xir::Graph::create("pruneserve_multi");
    xir::Op* image = graph->add_op(
        "image", "data-fix", Attrs({1, kImageH, kImageW, kImageC}), {}, kXint8);
    SetFixPoint(image, kImageFixPoint);
    xir::Op* copy = graph->add_op("copy", "identity", xir::Attrs::create(),
                                  {{"input", {image}}}, kXint8);
    SetFixPoint(copy, kCopyFixPoint);
    auto max_attrs = xir::Attrs::create();
    max_attrs->set_attr<std::vector<std::int32_t>>("axis", {1, 2});
    max_attrs->set_attr<bool>("keep_dims", false);
    xir::Op* channel_max =
        graph->add_op("channel_max", "reduction_max-fix", std::move(max_attrs),
                      {{"input", {image}}}, kXint8);
    SetFixPoint(channel_max, kMaxFixPoint);
    if (!options.single_input) {
      xir::Op* vector = graph->add_op("vector", "data-fix",
                                      Attrs({1, kVectorLen}), {}, kXint8);
      SetFixPoint(vector, kVectorFixPoint);
      auto weight_attrs = Attrs({1, kVectorLen});
      std::vector<char> data;
      for (int8_t w : FixtureWeights()) data.push_back(static_cast<char>(w));
      weight_attrs->set_attr<std::vector<char>>("data", data);
      xir::Op* weights = graph->add_op("weights", "const-fix",
                                       std::move(weight_attrs), {}, kXint8);
      SetFixPoint(weights, kWeightFixPoint);
      auto add_attrs = xir::Attrs::create();
      add_attrs->set_attr<std::string>("type", "ADD");
      xir::Op* biased =
          graph->add_op("biased", "eltwise-fix", std::move(add_attrs),
                        {{"input", {vector, weights}}}, kXint8);
      SetFixPoint(biased, kBiasedFixPoint);
    }

    xir::Subgraph* root = graph->get_root_subgraph();
    root->create_children();
    const std::set<std::string> extra =
        options.single_input ? std::set<std::string>{}
                             : std::set<std::string>{"weights", "biased"};
    xir::Subgraph* user = Merge(
        root, options.single_input ? std::set<std::string>{"image"}
                                   : std::set<std::string>{"image", "vector"});
    user->set_name("subgraph_input");
    user->set_attr<std::string>("device", "USER");
    std::vector<std::set<std::string>> dpu_ops;
    if (options.dpu_subgraphs == 2) {
      dpu_ops = {{"channel_max"}, {"copy"}};
    } else {
      dpu_ops = {{"copy", "channel_max"}};
    }
    dpu_ops[0].insert(extra.begin(), extra.end());
    for (size_t i = 0; i < dpu_ops.size(); ++i) {
      xir::Subgraph* dpu = Merge(root, dpu_ops[i]);
      dpu->set_name(absl::StrCat("subgraph_dpu", i));
      dpu->set_attr<std::string>("device", "DPU");
      dpu->set_attr<std::map<std::string, std::string>>(
          "runner", {{"run", options.run_library},
                     {"ref", "libvart-cpu-runner.so"},
                     {"sim", "libvart-sim-runner.so"}});
      dpu->set_attr<std::int32_t>("pruneserve_reference_batch",
                                  options.runner_batch);
      dpu->set_attr<std::string>("pruneserve_reference_behaviour",
                                 options.behaviour);
      dpu->set_attr<bool>("pruneserve_reference_runner_ext",
                          options.runner_ext);
    }
    graph->serialize(path);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("building fixture ", path, ": ", e.what()));
  }
  return absl::OkStatus();
}

MultiExpected ExpectedMulti(const std::vector<float>& image,
                            const std::vector<float>& vector, int64_t rows) {
  MultiExpected e;
  const std::vector<int8_t> weights = FixtureWeights();
  for (int64_t n = 0; n < rows; ++n) {
    for (int c = 0; c < kImageC; ++c) {
      int best = -129;
      for (int h = 0; h < kImageH; ++h) {
        for (int w = 0; w < kImageW; ++w) {
          const float x =
              image[((n * kImageC + c) * kImageH + h) * kImageW + w];
          const int q = Quantize(x, kImageFixPoint);
          best = std::max(best, q);
          e.copy.push_back(static_cast<float>(
              Real(Quantize(Real(q, kImageFixPoint), kCopyFixPoint),
                   kCopyFixPoint)));
        }
      }
      e.channel_max.push_back(static_cast<float>(Real(
          Quantize(Real(best, kImageFixPoint), kMaxFixPoint), kMaxFixPoint)));
    }
    for (int i = 0; i < kVectorLen && !vector.empty(); ++i) {
      const int q = Quantize(vector[n * kVectorLen + i], kVectorFixPoint);
      const double sum =
          Real(q, kVectorFixPoint) + Real(weights[i], kWeightFixPoint);
      e.biased.push_back(static_cast<float>(
          Real(Quantize(sum, kBiasedFixPoint), kBiasedFixPoint)));
    }
  }
  return e;
}

std::vector<float> FixtureValues(int64_t count, int seed) {
  // A fixed walk over [-9, 9] in steps of 1/32 (finer than every fix
  // point, so rounding ties and saturation both occur).
  std::vector<float> v(static_cast<size_t>(count));
  uint32_t state = 2654435761u * static_cast<uint32_t>(seed + 1);
  for (float& x : v) {
    state = state * 1664525u + 1013904223u;
    x = static_cast<float>(static_cast<int>(state >> 16) % 577 - 288) / 32.0f;
  }
  return v;
}

}  // namespace pruneserve::testing
