#include "core/pruning/channel_dependency_graph.h"

#include <torch/script.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/pruning/inlined_forward.h"
#include "core/util/torch_status.h"

namespace pruneserve::pruning {

namespace jit = torch::jit;
using internal::InlinedForward;
using internal::IsTensorValue;
using Ids = std::vector<int>;

std::string LayerNameOf(const std::string& tensor_path) {
  auto [owner, name] = internal::SplitOwner(tensor_path);
  return owner.empty() ? tensor_path : owner;
}

namespace {

// Ops that leave every channel where it is and take one tensor.
const std::unordered_set<std::string>& ChannelwiseOps() {
  static const auto* ops =
      new std::unordered_set<std::string>{"aten::relu",
                                          "aten::relu6",
                                          "aten::hardtanh",
                                          "aten::leaky_relu",
                                          "aten::sigmoid",
                                          "aten::silu",
                                          "aten::hardswish",
                                          "aten::hardsigmoid",
                                          "aten::tanh",
                                          "aten::gelu",
                                          "aten::elu",
                                          "aten::clamp",
                                          "aten::dropout",
                                          "aten::feature_dropout",
                                          "aten::alpha_dropout",
                                          "aten::feature_alpha_dropout",
                                          "aten::contiguous",
                                          "aten::clone",
                                          "aten::detach",
                                          "aten::max_pool2d",
                                          "aten::avg_pool2d",
                                          "aten::adaptive_avg_pool2d",
                                          "aten::adaptive_max_pool2d",
                                          "aten::max_pool2d_with_indices"};
  return *ops;
}

// Ops that read only metadata that pruning does not change.
bool IsMetadataOp(const std::string& kind) {
  return kind == "aten::dim" || kind == "prim::device" ||
         kind == "prim::dtype" || kind == "aten::__is__" ||
         kind == "aten::__isnot__" || kind == "prim::is_cuda" ||
         kind == "aten::is_floating_point" || kind == "aten::size";
}

bool IsBinaryElementwise(const std::string& k) {
  return k == "aten::add" || k == "aten::sub" || k == "aten::mul" ||
         k == "aten::div";
}

std::string BaseKind(const jit::Node* node) {
  std::string kind = node->kind().toQualString();
  if (absl::EndsWith(kind, "_") && !absl::EndsWith(kind, "__")) {
    kind.pop_back();
  }
  return kind;
}

bool IsNoneValue(const jit::Value* v) {
  return v->type()->kind() == c10::TypeKind::NoneType ||
         (v->node()->kind() == c10::prim::Constant &&
          v->node()->output()->type()->kind() == c10::TypeKind::NoneType);
}

}  // namespace

// Walks the graph once and builds the channel classes. Internal helper of
// ChannelDependencyGraph::Build.
class ChannelAnalyzer {
 public:
  ChannelAnalyzer(
      InlinedForward& f,
      std::unordered_map<const jit::Value*, std::vector<int64_t>> shapes)
      : f_(f), shapes_(std::move(shapes)) {}

  void Run(ChannelDependencyGraph& out);

 private:
  struct Origin {
    std::string name;
    bool stem = false;
    Ids ids;
  };
  struct PendingLayer {
    LayerGeometry geometry;
    Ids in, out;  // -1 entries: untracked
    jit::Value* input = nullptr;
  };
  struct PendingSite {
    CountSite site;
    Ids ids;
  };

  int Find(int a) {
    while (parent_[a] != a) a = parent_[a] = parent_[parent_[a]];
    return a;
  }
  void Union(int a, int b) {
    a = Find(a);
    b = Find(b);
    if (a != b) parent_[b] = a;
  }
  Ids NewIds(int64_t n, const std::string& origin, bool stem,
             const std::string& frozen = "") {
    Origin o{origin, stem, {}};
    for (int64_t i = 0; i < n; ++i) {
      int id = static_cast<int>(parent_.size());
      parent_.push_back(id);
      slices_.emplace_back();
      frozen_.push_back(frozen);
      residual_.push_back(false);
      o.ids.push_back(id);
    }
    origins_.push_back(o);
    return origins_.back().ids;
  }
  void Freeze(const Ids& ids, const std::string& reason) {
    for (int id : ids) {
      if (id >= 0 && frozen_[id].empty()) frozen_[id] = reason;
    }
  }
  // None constants and attributes currently set to None (no bias).
  bool IsNone(const jit::Value* v) const {
    if (IsNoneValue(v)) return true;
    const std::string* path = f_.AttrPath(v);
    if (path == nullptr) return false;
    auto value = internal::AttrAtPath(f_.module(), *path);
    return value.ok() && value->isNone();
  }
  const Ids* IdsOf(const jit::Value* v) const {
    auto it = chan_.find(v);
    return it == chan_.end() ? nullptr : &it->second;
  }
  const std::vector<int64_t>* ShapeOf(const jit::Value* v) const {
    auto it = shapes_.find(v);
    return it == shapes_.end() ? nullptr : &it->second;
  }
  void AddSlice(int id, const std::string& tensor, int dim, int64_t index,
                SliceRole role, int64_t count = 1) {
    slices_[id].push_back(TensorSlice{tensor, dim, index, count, role});
  }
  void AcceptParamUse(const jit::Node* n, size_t i) { ok_uses_.insert({n, i}); }
  // Freezes the channels of every tracked input of `node`.
  void Unsupported(const jit::Node* node, const std::string& why) {
    for (const jit::Value* in : node->inputs()) {
      if (const Ids* ids = IdsOf(in)) {
        Freeze(*ids, absl::StrCat(node->kind().toQualString(), ": ", why));
      }
    }
  }

  void Visit(jit::Node* node);
  void VisitNested(jit::Block* block);
  void VisitConv(jit::Node* node, size_t groups_index);
  void VisitBatchNorm(jit::Node* node);
  void VisitLinear(jit::Node* node, jit::Value* x, jit::Value* weight_value,
                   bool transposed, jit::Value* bias);
  void VisitBinary(jit::Node* node);
  void VisitCat(jit::Node* node);
  void VisitFlatten(jit::Node* node, bool is_view);
  void VisitMean(jit::Node* node);
  void ValidateParamUses(jit::Block* block,
                         std::map<std::string, std::string>& escaped);
  void Finish(ChannelDependencyGraph& out);

  InlinedForward& f_;
  std::unordered_map<const jit::Value*, std::vector<int64_t>> shapes_;
  std::unordered_map<const jit::Value*, Ids> chan_;
  std::vector<int> parent_;
  std::vector<std::vector<TensorSlice>> slices_;
  std::vector<std::string> frozen_;
  std::vector<bool> residual_;
  std::vector<Origin> origins_;
  std::vector<PendingLayer> layers_;
  std::vector<PendingSite> sites_;
  std::set<std::pair<const jit::Node*, size_t>> ok_uses_;
  bool has_residual_ = false;
};

void ChannelAnalyzer::Run(ChannelDependencyGraph& out) {
  for (jit::Node* node : f_.graph()->nodes()) Visit(node);
  // Model outputs keep their shape.
  for (const jit::Value* v : f_.graph()->outputs()) {
    if (const Ids* ids = IdsOf(v)) Freeze(*ids, "model output");
  }
  Finish(out);
}

void ChannelAnalyzer::VisitNested(jit::Block* block) {
  for (jit::Node* node : block->nodes()) {
    std::string kind = node->kind().toQualString();
    if (!IsMetadataOp(kind) && kind != "prim::GetAttr") {
      Unsupported(node, "reads the channels inside a control-flow block");
    }
    for (jit::Block* sub : node->blocks()) VisitNested(sub);
  }
  for (const jit::Value* v : block->outputs()) {
    if (const Ids* ids = IdsOf(v)) {
      Freeze(*ids, "tensor returned from a control-flow block");
    }
  }
}

void ChannelAnalyzer::Visit(jit::Node* node) {
  const std::string kind = BaseKind(node);
  for (jit::Block* sub : node->blocks()) VisitNested(sub);
  if (!node->blocks().empty()) {
    Unsupported(node, "control flow over tracked channels");
    return;
  }
  if (kind == "prim::GetAttr" || kind == "prim::Constant") return;
  if (kind == "aten::conv2d") return VisitConv(node, 6);
  if (kind == "aten::_convolution" || kind == "aten::convolution") {
    auto transposed = jit::toIValue(node->input(6));
    if (!transposed || !transposed->isBool() || transposed->toBool()) {
      Unsupported(node, "transposed convolution is not supported");
      return;
    }
    return VisitConv(node, 8);
  }
  if (kind == "aten::batch_norm") return VisitBatchNorm(node);
  if (kind == "aten::linear") {
    return VisitLinear(node, node->input(0), node->input(1), false,
                       node->input(2));
  }
  if (kind == "aten::addmm" || kind == "aten::matmul") {
    jit::Value* x = node->input(kind == "aten::addmm" ? 1 : 0);
    jit::Value* m = node->input(kind == "aten::addmm" ? 2 : 1);
    jit::Value* bias = kind == "aten::addmm" ? node->input(0) : nullptr;
    if (m->node()->kind() == c10::aten::t &&
        f_.TensorAttr(m->node()->input()) && m->uses().size() == 1) {
      AcceptParamUse(m->node(), 0);
      return VisitLinear(node, x, m->node()->input(), true, bias);
    }
    return Unsupported(node, "matrix product with a non-parameter operand");
  }
  if (IsBinaryElementwise(kind)) return VisitBinary(node);
  if (kind == "aten::cat") return VisitCat(node);
  if (kind == "aten::flatten") return VisitFlatten(node, false);
  if (kind == "aten::view" || kind == "aten::reshape") {
    return VisitFlatten(node, true);
  }
  if (kind == "aten::mean") return VisitMean(node);
  if (kind == "prim::ListConstruct") {
    for (const jit::Use& use : node->output()->uses()) {
      if (use.user->kind() != c10::aten::cat) {
        return Unsupported(node, "list of tensors used outside cat");
      }
    }
    return;
  }
  if (kind == "aten::size") {
    if (node->inputs().size() > 1) {
      auto dim = f_.IntValue(node->input(1));
      if (!dim || *dim != 0) {
        Unsupported(node, "reads a channel count into the program");
      }
    }
    return;
  }
  if (IsMetadataOp(kind)) return;
  if (ChannelwiseOps().count(kind)) {
    for (size_t i = 1; i < node->inputs().size(); ++i) {
      if (IsTensorValue(node->input(i))) {
        return Unsupported(node, "takes a second tensor");
      }
    }
    const Ids* ids = IdsOf(node->input(0));
    if (ids == nullptr) return;
    if (node->outputs().size() > 1 && node->output(1)->hasUses()) {
      return Unsupported(node, "pooling indices are used");
    }
    chan_[node->output(0)] = *ids;
    return;
  }
  Unsupported(node, "op not supported by the channel analysis");
}

void ChannelAnalyzer::VisitConv(jit::Node* node, size_t groups_index) {
  jit::Value* x = node->input(0);
  auto weight = f_.TensorAttr(node->input(1));
  const std::string* wpath = f_.AttrPath(node->input(1));
  auto groups = f_.IntValue(node->input(groups_index));
  jit::Value* bias_value = node->input(2);
  auto bias = f_.TensorAttr(bias_value);
  if (!weight || weight->dim() != 4 || !groups ||
      (!bias && !IsNone(bias_value))) {
    return Unsupported(node,
                       "weight, bias or groups is not a module attribute");
  }
  AcceptParamUse(node, 1);
  AcceptParamUse(node, 2);
  const std::string name = LayerNameOf(*wpath);
  const std::string bpath = bias ? *f_.AttrPath(bias_value) : "";
  const int64_t cout = weight->size(0);
  const int64_t cin = weight->size(1) * *groups;
  const Ids* in = IdsOf(x);
  const auto* out_shape = ShapeOf(node->output());
  PendingLayer layer;
  layer.geometry.name = name;
  layer.geometry.groups = *groups;
  layer.input = x;
  if (out_shape != nullptr && out_shape->size() == 4) {
    layer.geometry.macs_per_pair = weight->size(2) * weight->size(3) *
                                   (*out_shape)[0] * (*out_shape)[2] *
                                   (*out_shape)[3];
  }
  if (in != nullptr && static_cast<int64_t>(in->size()) != cin) {
    Freeze(*in, "aten::conv2d: input channels do not match the weight");
    in = nullptr;
  }
  layer.in = in ? *in : Ids(cin, -1);
  Ids out_ids;
  if (*groups == 1) {
    out_ids = NewIds(cout, name, in == nullptr);
    for (int64_t i = 0; i < cout; ++i) {
      AddSlice(out_ids[i], *wpath, 0, i, SliceRole::kProducerWeight);
      if (bias) AddSlice(out_ids[i], bpath, 0, i, SliceRole::kProducerBias);
    }
    if (in != nullptr) {
      for (int64_t j = 0; j < cin; ++j) {
        AddSlice((*in)[j], *wpath, 1, j, SliceRole::kConsumerWeight);
      }
    }
  } else if (*groups == cin && cout == cin && in != nullptr) {
    layer.geometry.depthwise = true;
    jit::Value* gv = node->input(groups_index);
    PendingSite site;
    site.ids = *in;
    if (gv->node()->kind() == c10::prim::Constant) {
      site.site.kind = CountSite::Kind::kGraphInput;
      site.site.node = node;
      site.site.input = groups_index;
    } else if (const std::string* gpath = f_.AttrPath(gv)) {
      site.site.kind = CountSite::Kind::kAttribute;
      site.site.attribute = *gpath;
    } else {
      Freeze(*in, "depthwise aten::conv2d: groups is computed in the graph");
    }
    if (!site.ids.empty() && (site.site.node || !site.site.attribute.empty())) {
      sites_.push_back(site);
    }
    out_ids = *in;
    for (int64_t i = 0; i < cout; ++i) {
      AddSlice(out_ids[i], *wpath, 0, i, SliceRole::kDepthwiseWeight);
      if (bias) AddSlice(out_ids[i], bpath, 0, i, SliceRole::kDepthwiseBias);
    }
  } else if (*groups != 1) {
    if (in != nullptr) {
      Freeze(*in, absl::StrCat("grouped conv ", name, " (groups=", *groups,
                               ") is not depthwise"));
    }
    layer.in = Ids(cin, -1);
  }
  layer.out = out_ids.empty() ? Ids(cout, -1) : out_ids;
  layers_.push_back(layer);
  if (!out_ids.empty()) chan_[node->output()] = out_ids;
}

void ChannelAnalyzer::VisitBatchNorm(jit::Node* node) {
  const Ids* in = IdsOf(node->input(0));
  if (in == nullptr) return;
  static const SliceRole kRoles[] = {
      SliceRole::kBatchNormWeight, SliceRole::kBatchNormBias,
      SliceRole::kBatchNormStat, SliceRole::kBatchNormStat};
  std::vector<std::pair<std::string, SliceRole>> members;
  for (size_t i = 1; i <= 4; ++i) {
    jit::Value* v = node->input(i);
    if (IsNone(v)) continue;
    auto t = f_.TensorAttr(v);
    if (!t || t->dim() != 1 || t->size(0) != static_cast<int64_t>(in->size())) {
      Freeze(*in, "aten::batch_norm: parameter is not a module tensor");
      chan_[node->output()] = *in;
      return;
    }
    members.emplace_back(*f_.AttrPath(v), kRoles[i - 1]);
    AcceptParamUse(node, i);
  }
  for (size_t c = 0; c < in->size(); ++c) {
    for (const auto& [path, role] : members) {
      AddSlice((*in)[c], path, 0, c, role);
    }
  }
  chan_[node->output()] = *in;
}

void ChannelAnalyzer::VisitLinear(jit::Node* node, jit::Value* x,
                                  jit::Value* weight_value, bool transposed,
                                  jit::Value* bias_value) {
  auto weight = f_.TensorAttr(weight_value);
  std::optional<torch::Tensor> bias;
  if (bias_value != nullptr && !IsNone(bias_value)) {
    bias = f_.TensorAttr(bias_value);
    if (!bias) return Unsupported(node, "bias is not a module tensor");
  }
  if (!weight || weight->dim() != 2) {
    return Unsupported(node, "weight is not a 2-D module tensor");
  }
  // A transposed weight is read through aten::t, accepted by the caller.
  if (!transposed) AcceptParamUse(node, 1);
  if (bias) AcceptParamUse(node, node->kind() == c10::aten::linear ? 2 : 0);
  const std::string wpath = *f_.AttrPath(weight_value);
  const std::string name = LayerNameOf(wpath);
  const int out_dim = transposed ? 1 : 0;
  const int in_dim = 1 - out_dim;
  const int64_t fout = weight->size(out_dim);
  const int64_t fin = weight->size(in_dim);
  const Ids* in = IdsOf(x);
  const auto* out_shape = ShapeOf(node->output());
  if (in != nullptr && static_cast<int64_t>(in->size()) != fin) {
    Freeze(*in, "linear: input features do not match the weight");
    in = nullptr;
  }
  if (out_shape == nullptr || out_shape->size() != 2) {
    if (in != nullptr) Freeze(*in, "linear on a tensor that is not 2-D");
    in = nullptr;
  }
  PendingLayer layer;
  layer.geometry.name = name;
  layer.geometry.is_conv = false;
  layer.geometry.macs_per_pair = out_shape ? (*out_shape)[0] : 1;
  layer.input = x;
  layer.in = in ? *in : Ids(fin, -1);
  if (in != nullptr) {
    // Runs of features from the same channel become one slice.
    for (int64_t f = 0; f < fin;) {
      int64_t g = f;
      while (g < fin && (*in)[g] == (*in)[f]) ++g;
      AddSlice((*in)[f], wpath, in_dim, f, SliceRole::kConsumerWeight, g - f);
      f = g;
    }
  }
  Ids out_ids = NewIds(fout, name, in == nullptr);
  for (int64_t i = 0; i < fout; ++i) {
    AddSlice(out_ids[i], wpath, out_dim, i, SliceRole::kProducerWeight);
    if (bias) {
      AddSlice(out_ids[i], *f_.AttrPath(bias_value), 0, i,
               SliceRole::kProducerBias);
    }
  }
  layer.out = out_ids;
  layers_.push_back(layer);
  chan_[node->output()] = out_ids;
}

void ChannelAnalyzer::VisitBinary(jit::Node* node) {
  jit::Value* a = node->input(0);
  jit::Value* b = node->input(1);
  const Ids* ia = IdsOf(a);
  const Ids* ib = IsTensorValue(b) ? IdsOf(b) : nullptr;
  for (size_t i = 2; i < node->inputs().size(); ++i) {
    if (IsTensorValue(node->input(i))) {
      return Unsupported(node, "takes a third tensor");
    }
  }
  if (ia == nullptr && ib == nullptr) return;
  if (ia != nullptr && ib != nullptr) {
    if (ia->size() != ib->size()) {
      return Unsupported(node, "broadcasts between tracked tensors");
    }
    for (size_t i = 0; i < ia->size(); ++i) {
      Union((*ia)[i], (*ib)[i]);
      residual_[Find((*ia)[i])] = true;
    }
    has_residual_ = true;
    chan_[node->output()] = *ia;
    return;
  }
  const Ids& ids = ia ? *ia : *ib;
  jit::Value* tracked = ia ? a : b;
  jit::Value* other = ia ? b : a;
  if (!IsTensorValue(other)) {
    chan_[node->output()] = ids;
    return;
  }
  const auto* ts = ShapeOf(tracked);
  const auto* os = ShapeOf(other);
  auto param = f_.TensorAttr(other);
  if (param && ts && ts->size() == 2 && param->dim() == 1 &&
      param->size(0) == static_cast<int64_t>(ids.size())) {
    // A bias added after a matrix product.
    AcceptParamUse(node, ia ? 1 : 0);
    for (size_t i = 0; i < ids.size(); ++i) {
      AddSlice(ids[i], *f_.AttrPath(other), 0, i, SliceRole::kProducerBias);
    }
    chan_[node->output()] = ids;
    return;
  }
  if (ts == nullptr || (os == nullptr && !param)) {
    return Unsupported(node, "operand shape unknown");
  }
  std::vector<int64_t> oshape = os ? *os : param->sizes().vec();
  int64_t channel_axis = 1 - (static_cast<int64_t>(ts->size()) -
                              static_cast<int64_t>(oshape.size()));
  if (channel_axis < 0 || oshape[channel_axis] == 1) {
    if (!ia) {
      return Unsupported(node, "in-place update of an untracked tensor");
    }
    chan_[node->output()] = ids;
    return;
  }
  Unsupported(node, "combines the channels with an untracked tensor");
}

void ChannelAnalyzer::VisitCat(jit::Node* node) {
  jit::Node* list = node->input(0)->node();
  const auto* out_shape = ShapeOf(node->output());
  auto dim = f_.IntValue(node->input(1));
  if (list->kind() != c10::prim::ListConstruct || !dim || !out_shape) {
    for (jit::Value* v : list->inputs()) {
      if (const Ids* ids = IdsOf(v))
        Freeze(*ids, "aten::cat of a computed list");
    }
    return;
  }
  int64_t d = *dim < 0 ? *dim + static_cast<int64_t>(out_shape->size()) : *dim;
  bool any = false;
  for (jit::Value* v : list->inputs()) any = any || IdsOf(v) != nullptr;
  if (!any) return;
  Ids out;
  if (d == 1) {
    for (jit::Value* v : list->inputs()) {
      if (const Ids* ids = IdsOf(v)) {
        out.insert(out.end(), ids->begin(), ids->end());
      } else {
        const auto* s = ShapeOf(v);
        Ids fresh = NewIds(s ? (*s)[1] : 0, "cat input", true,
                           "aten::cat: input channels are not tracked");
        out.insert(out.end(), fresh.begin(), fresh.end());
      }
    }
  } else {
    // Concatenating along batch or space keeps channels aligned.
    const Ids* first = nullptr;
    for (jit::Value* v : list->inputs()) {
      const Ids* ids = IdsOf(v);
      if (ids == nullptr || (first && ids->size() != first->size())) {
        for (jit::Value* w : list->inputs()) {
          if (const Ids* x = IdsOf(w)) Freeze(*x, "aten::cat: untracked input");
        }
        return;
      }
      if (first) {
        for (size_t i = 0; i < ids->size(); ++i) Union((*first)[i], (*ids)[i]);
      }
      first = first ? first : ids;
    }
    out = *first;
  }
  chan_[node->output()] = out;
}

void ChannelAnalyzer::VisitFlatten(jit::Node* node, bool is_view) {
  const Ids* in = IdsOf(node->input(0));
  if (in == nullptr) return;
  const auto* is = ShapeOf(node->input(0));
  const auto* os = ShapeOf(node->output());
  if (!is || !os) return Unsupported(node, "shape unknown");
  if (*is == *os) {
    chan_[node->output()] = *in;
    return;
  }
  if (is->size() != 4 || os->size() != 2 || (*os)[0] != (*is)[0]) {
    return Unsupported(node, "reshape other than [N,C,H,W] -> [N,C*H*W]");
  }
  if (!is_view) {
    auto start = f_.IntValue(node->input(1));
    if (!start || *start != 1) return Unsupported(node, "start_dim is not 1");
  }
  const int64_t hw = (*is)[2] * (*is)[3];
  Ids out;
  out.reserve(in->size() * hw);
  for (int id : *in) out.insert(out.end(), hw, id);
  if (is_view) {
    jit::Value* size = node->input(1);
    jit::Node* sn = size->node();
    PendingSite site;
    site.ids = out;
    if (sn->kind() == c10::prim::ListConstruct && sn->inputs().size() == 2) {
      auto c = jit::toIValue(sn->input(1));
      if (c && c->isInt() &&
          sn->input(1)->node()->kind() == c10::prim::Constant) {
        if (c->toInt() != -1) {
          site.site.kind = CountSite::Kind::kGraphListElement;
          site.site.node = sn;
          site.site.input = 1;
          sites_.push_back(site);
        }
      } else {
        return Unsupported(node, "feature size is computed in the graph");
      }
    } else if (sn->kind() == c10::prim::Constant) {
      site.site.kind = CountSite::Kind::kGraphInput;
      site.site.node = node;
      site.site.input = 1;
      sites_.push_back(site);
    } else {
      return Unsupported(node, "shape list is computed in the graph");
    }
  }
  chan_[node->output()] = out;
}

void ChannelAnalyzer::VisitMean(jit::Node* node) {
  const Ids* in = IdsOf(node->input(0));
  if (in == nullptr) return;
  auto dims = jit::toIValue(node->input(1));
  const auto* is = ShapeOf(node->input(0));
  if (!dims || !dims->isIntList() || !is || is->size() != 4) {
    return Unsupported(node, "mean over non-constant dims");
  }
  std::set<int64_t> set;
  for (int64_t d : dims->toIntVector()) set.insert(d < 0 ? d + 4 : d);
  if (set != std::set<int64_t>{2, 3}) {
    return Unsupported(node, "mean over dims other than the spatial ones");
  }
  chan_[node->output()] = *in;
}

void ChannelAnalyzer::ValidateParamUses(
    jit::Block* block, std::map<std::string, std::string>& escaped) {
  for (jit::Node* node : block->nodes()) {
    for (size_t i = 0; i < node->inputs().size(); ++i) {
      const std::string* path = f_.AttrPath(node->input(i));
      if (path == nullptr || node->kind() == c10::prim::GetAttr) continue;
      if (ok_uses_.count({node, i})) continue;
      if (IsMetadataOp(node->kind().toQualString())) continue;
      escaped.emplace(*path, node->kind().toQualString());
    }
    for (jit::Block* sub : node->blocks()) ValidateParamUses(sub, escaped);
  }
}

void ChannelAnalyzer::Finish(ChannelDependencyGraph& out) {
  // A tensor slice claimed by two channels (shared weights) couples them.
  std::map<std::tuple<std::string, int, int64_t>, int> owner;
  for (size_t id = 0; id < slices_.size(); ++id) {
    for (const TensorSlice& s : slices_[id]) {
      auto [it, inserted] =
          owner.emplace(std::make_tuple(s.tensor, s.dim, s.index), id);
      if (!inserted) Union(it->second, static_cast<int>(id));
    }
  }
  std::map<std::string, std::string> escaped;
  ValidateParamUses(f_.graph()->block(), escaped);
  for (size_t id = 0; id < slices_.size(); ++id) {
    for (const TensorSlice& s : slices_[id]) {
      auto it = escaped.find(s.tensor);
      if (it != escaped.end()) {
        Freeze({static_cast<int>(id)},
               absl::StrCat(it->second, ": also reads ", s.tensor));
      }
    }
  }
  // Classes: roots. Groups: classes joined by their origin layer.
  const int n = static_cast<int>(parent_.size());
  std::vector<int> gparent(n);
  std::iota(gparent.begin(), gparent.end(), 0);
  auto gfind = [&](int a) {
    while (gparent[a] != a) a = gparent[a] = gparent[gparent[a]];
    return a;
  };
  for (const Origin& o : origins_) {
    for (size_t i = 1; i < o.ids.size(); ++i) {
      int a = gfind(Find(o.ids[0])), b = gfind(Find(o.ids[i]));
      if (a != b) gparent[b] = a;
    }
  }
  std::unordered_map<int, int> group_of;       // group root -> group index
  std::unordered_map<int, ChannelRef> ref_of;  // class root -> ref
  std::vector<ChannelGroup>& groups = out.groups_;
  for (const Origin& o : origins_) {
    for (int id : o.ids) {
      int root = Find(id);
      int g = gfind(root);
      auto [it, inserted] =
          group_of.emplace(g, static_cast<int>(groups.size()));
      if (inserted) {
        ChannelGroup group;
        group.id = it->second;
        group.name = o.name;
        groups.push_back(group);
      }
      ChannelGroup& group = groups[it->second];
      if (std::find(group.producers.begin(), group.producers.end(), o.name) ==
          group.producers.end()) {
        group.producers.push_back(o.name);
      }
      group.stem = group.stem || o.stem;
      if (ref_of.count(root)) continue;
      ref_of[root] =
          ChannelRef{group.id, static_cast<int>(group.channels.size())};
      group.channels.emplace_back();
    }
  }
  for (int id = 0; id < n; ++id) {
    int root = Find(id);
    const ChannelRef& ref = ref_of[root];
    ChannelGroup& group = groups[ref.group];
    auto& dst = group.channels[ref.channel].slices;
    dst.insert(dst.end(), slices_[id].begin(), slices_[id].end());
    if (!frozen_[id].empty() && group.prunable) {
      group.prunable = false;
      group.frozen_reason = frozen_[id];
    }
    if (residual_[root]) group.residual = true;
    for (const TensorSlice& s : slices_[id]) {
      std::vector<std::string>* list = nullptr;
      if (s.role == SliceRole::kConsumerWeight) list = &group.consumers;
      if (s.role == SliceRole::kBatchNormWeight) list = &group.batch_norms;
      if (list == nullptr) continue;
      std::string layer = LayerNameOf(s.tensor);
      if (std::find(list->begin(), list->end(), layer) == list->end()) {
        list->push_back(layer);
      }
    }
  }
  auto to_refs = [&](const Ids& ids) {
    std::vector<ChannelRef> refs;
    refs.reserve(ids.size());
    for (int id : ids) {
      refs.push_back(id < 0 ? ChannelRef{} : ref_of[Find(id)]);
    }
    return refs;
  };
  for (PendingLayer& l : layers_) {
    l.geometry.outputs = to_refs(l.out);
    l.geometry.inputs = to_refs(l.in);
    out.layers_.push_back(std::move(l.geometry));
    out.layer_inputs_.push_back(l.input);
  }
  for (PendingSite& s : sites_) {
    s.site.channels = to_refs(s.ids);
    out.count_sites_.push_back(std::move(s.site));
  }
  out.has_residual_ = has_residual_;
}

ChannelDependencyGraph::ChannelDependencyGraph() = default;
ChannelDependencyGraph::~ChannelDependencyGraph() = default;
ChannelDependencyGraph::ChannelDependencyGraph(
    ChannelDependencyGraph&&) noexcept = default;

absl::StatusOr<std::unique_ptr<ChannelDependencyGraph>>
ChannelDependencyGraph::Build(const jit::Module& module,
                              const std::vector<int64_t>& input_shape) {
  auto forward = InlinedForward::Create(module);
  if (!forward.ok()) return forward.status();
  torch::Tensor input;
  try {
    input = torch::zeros(input_shape);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "creating the example input");
  }
  auto shapes = (*forward)->RecordShapes(input);
  if (!shapes.ok()) return shapes.status();
  std::unique_ptr<ChannelDependencyGraph> graph(new ChannelDependencyGraph());
  graph->input_shape_ = input_shape;
  try {
    ChannelAnalyzer analyzer(**forward, std::move(*shapes));
    analyzer.Run(*graph);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "channel analysis",
                              absl::StatusCode::kInternal);
  }
  graph->forward_ = std::move(*forward);
  return graph;
}

std::string ChannelDependencyGraph::Describe() const {
  std::string out;
  for (const ChannelGroup& g : groups_) {
    absl::StrAppend(&out, "group ", g.id, " ", g.name, ": ", g.channels.size(),
                    " channels; producers [", absl::StrJoin(g.producers, ", "),
                    "] bn [", absl::StrJoin(g.batch_norms, ", "),
                    "] consumers [", absl::StrJoin(g.consumers, ", "), "]");
    if (g.residual) absl::StrAppend(&out, " residual");
    if (g.stem) absl::StrAppend(&out, " stem");
    if (!g.prunable) absl::StrAppend(&out, " FROZEN (", g.frozen_reason, ")");
    absl::StrAppend(&out, "\n");
  }
  return out;
}

}  // namespace pruneserve::pruning
