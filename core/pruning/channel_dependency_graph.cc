#include "core/pruning/channel_dependency_graph.h"

#include <torch/script.h>

#include <algorithm>
#include <deque>
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
         kind == "prim::shape" || kind == "aten::len" ||
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
  if (v->type()->kind() == c10::TypeKind::NoneType) return true;
  if (v->node()->kind() != c10::prim::Constant) return false;
  // Specialisation types a None attribute's constant as Optional[T].
  auto value = jit::toIValue(v);
  return value && value->isNone();
}

}  // namespace

// A tracked tensor's channel region: `ids` holds one channel id per element
// of the dims [axis, axis + span.size()) in row-major order. A plain feature
// map has span {C}. A channel shuffle splits it ({g, C/g}); the split
// couples the ids that differ only in the dims that do not shrink under
// pruning (VisitReshape), so later permutations need only reorder ids.
// Flattening channels together with spatial dims repeats ids
// (`expanded`); only a linear layer (or another reshape) may read that.
struct Chan {
  Ids ids;
  int64_t axis = 1;
  std::vector<int64_t> span;
  bool expanded = false;
  bool plain() const { return span.size() == 1 && !expanded; }
};

Chan PlainChan(Ids ids, int64_t axis) {
  Chan c;
  c.span = {static_cast<int64_t>(ids.size())};
  c.ids = std::move(ids);
  c.axis = axis;
  return c;
}

// Walks the graph once and builds the channel classes. Internal helper of
// ChannelDependencyGraph::Build.
class ChannelAnalyzer {
 public:
  ChannelAnalyzer(
      InlinedForward& f,
      const std::unordered_map<const jit::Value*, std::vector<int64_t>>& shapes,
      std::unordered_set<std::string>* names)
      : f_(f), shapes_(shapes), names_(names) {}

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
    o.ids.reserve(n);
    for (int64_t i = 0; i < n; ++i) {
      int id = static_cast<int>(parent_.size());
      parent_.push_back(id);
      // A channel of a conv -> BN -> conv chain has 7 slices: room for
      // them in one allocation.
      slices_.emplace_back().reserve(8);
      if (!frozen.empty()) frozen_.emplace(id, frozen);
      residual_.push_back(false);
      o.ids.push_back(id);
    }
    origins_.push_back(o);
    return origins_.back().ids;
  }
  void Freeze(const Ids& ids, const std::string& reason) {
    for (int id : ids) {
      // The first reason stays.
      if (id >= 0 && !reason.empty()) frozen_.emplace(id, reason);
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
  const Chan* ChanOf(const jit::Value* v) const {
    auto it = chan_.find(v);
    return it == chan_.end() ? nullptr : &it->second;
  }
  const std::vector<int64_t>* ShapeOf(const jit::Value* v) const {
    auto it = shapes_.find(v);
    return it == shapes_.end() ? nullptr : &it->second;
  }
  int64_t RankOf(const jit::Value* v) const {
    const auto* s = ShapeOf(v);
    return s ? static_cast<int64_t>(s->size()) : -1;
  }
  // The graph's copy of `path`; slices point at it instead of copying.
  const std::string* Intern(const std::string& path) {
    return &*names_->insert(path).first;
  }
  void AddSlice(int id, const std::string* tensor, int dim, int64_t index,
                SliceRole role, int64_t count = 1) {
    slices_[id].push_back(TensorSlice{tensor, dim, index, count, role});
  }
  void AcceptParamUse(const jit::Node* n, size_t i) { ok_uses_.insert({n, i}); }
  // Freezes the channels of every tracked input of `node` (and of tensors in
  // lists it reads).
  void Unsupported(const jit::Node* node, const std::string& why) {
    const std::string reason =
        absl::StrCat(node->kind().toQualString(), ": ", why);
    for (const jit::Value* in : node->inputs()) {
      if (const Chan* c = ChanOf(in)) Freeze(c->ids, reason);
      if (auto elems = list_elems_.find(in); elems != list_elems_.end()) {
        for (const jit::Value* e : elems->second) {
          if (const Chan* c = ChanOf(e)) Freeze(c->ids, reason);
        }
      }
      auto lists = list_chans_.find(in);
      if (lists != list_chans_.end()) {
        for (const Chan& c : lists->second) Freeze(c.ids, reason);
      }
    }
  }
  // Records that the int at `node`'s input `input` (a constant or a list of
  // them) holds the kept count of `ids` (divided by `divisor`). Freezes
  // `ids` when the surgery could not find the code to edit.
  void AddGraphSite(jit::Node* node, size_t input, int64_t list_index,
                    const Ids& ids, int64_t divisor = 1) {
    if (!f_.HasSource(node)) {
      Freeze(ids, absl::StrCat(node->kind().toQualString(),
                               ": channel count is a constant of code that "
                               "specialisation duplicated"));
      return;
    }
    PendingSite site;
    site.site.kind = CountSite::Kind::kGraphInput;
    site.site.node = node;
    site.site.input = input;
    site.site.list_index = list_index;
    site.site.divisor = divisor;
    site.ids = ids;
    sites_.push_back(std::move(site));
  }
  bool IsConstant(const jit::Value* v) const {
    return v->node()->kind() == c10::prim::Constant;
  }

  void Visit(jit::Node* node);
  // Drops (and freezes) the channels of outputs whose recorded shape does
  // not hold them where the rules said.
  void CheckOutputs(const jit::Node* node);
  void VisitControlFlow(jit::Node* node);
  void VisitNested(jit::Block* block, const std::string& where);
  void VisitConv(jit::Node* node, size_t groups_index);
  void VisitBatchNorm(jit::Node* node);
  void VisitLinear(jit::Node* node, jit::Value* x, jit::Value* weight_value,
                   bool transposed, jit::Value* bias);
  void VisitBinary(jit::Node* node, const std::string& kind);
  void VisitCat(jit::Node* node);
  void VisitFlatten(jit::Node* node);
  void VisitReshape(jit::Node* node);
  void VisitPermute(jit::Node* node, const std::string& kind);
  void VisitSplit(jit::Node* node, const std::string& kind);
  void VisitListUnpack(jit::Node* node);
  // Adds the weight and bias (inputs 2 and 3) of a layer_norm/group_norm
  // node as slices of `ids`; false when one is not a 1-D module tensor of
  // that size.
  bool AddNormAffine(jit::Node* node, const Ids& ids);
  void VisitLayerNorm(jit::Node* node);
  void VisitGroupNorm(jit::Node* node);
  void VisitMean(jit::Node* node);
  // Flattens dims [start, end] of a tracked tensor whose channel region lies
  // inside them into one dim: returns the expanded chan.
  Chan Expand(const Chan& in, const std::vector<int64_t>& shape, int64_t start,
              int64_t end);
  void ValidateParamUses(jit::Block* block,
                         std::map<std::string, std::string>& escaped);
  void Finish(ChannelDependencyGraph& out);

  InlinedForward& f_;
  const std::unordered_map<const jit::Value*, std::vector<int64_t>>& shapes_;
  // The graph's interned tensor paths.
  std::unordered_set<std::string>* names_;
  std::unordered_map<const jit::Value*, Chan> chan_;
  // The tensors a list value holds at the node being visited.
  std::unordered_map<const jit::Value*, std::vector<jit::Value*>> list_elems_;
  // Tensor lists made by chunk/split of a tracked tensor: one chan per piece.
  std::unordered_map<const jit::Value*, std::vector<Chan>> list_chans_;
  std::vector<int> parent_;
  // Per channel id (a deque: growing it moves no channel's slices).
  std::deque<std::vector<TensorSlice>> slices_;
  // Why a channel id is frozen; most are not.
  std::unordered_map<int, std::string> frozen_;
  std::vector<bool> residual_;
  std::vector<Origin> origins_;
  std::vector<PendingLayer> layers_;
  std::vector<PendingSite> sites_;
  std::set<std::pair<const jit::Node*, size_t>> ok_uses_;
  bool has_residual_ = false;
};

void ChannelAnalyzer::CheckOutputs(const jit::Node* node) {
  for (const jit::Value* v : node->outputs()) {
    auto it = chan_.find(v);
    if (it == chan_.end()) continue;
    const Chan& c = it->second;
    const auto* shape = ShapeOf(v);
    if (shape == nullptr) continue;
    const int64_t rank = static_cast<int64_t>(shape->size());
    const int64_t len = static_cast<int64_t>(c.span.size());
    bool ok = c.axis >= 0 && c.axis + len <= rank;
    int64_t n = 1;
    for (int64_t k = 0; ok && k < len; ++k) {
      ok = (*shape)[c.axis + k] == c.span[k];
      n *= c.span[k];
    }
    ok = ok && n == static_cast<int64_t>(c.ids.size());
    if (!ok) {
      // A rule's bookkeeping disagrees with the recorded shape: keep the
      // model correct by freezing rather than guessing.
      Freeze(c.ids, absl::StrCat(node->kind().toQualString(),
                                 ": channel bookkeeping does not match the "
                                 "recorded shape"));
      chan_.erase(it);
    }
  }
}

void ChannelAnalyzer::Run(ChannelDependencyGraph& out) {
  for (jit::Node* node : f_.graph()->nodes()) {
    Visit(node);
    CheckOutputs(node);
  }
  // Model outputs keep their shape.
  for (const jit::Value* v : f_.graph()->outputs()) {
    if (const Chan* c = ChanOf(v)) Freeze(c->ids, "model output");
    const jit::Node* n = v->node();
    if (n->kind() == c10::prim::TupleConstruct ||
        n->kind() == c10::prim::ListConstruct) {
      for (const jit::Value* e : n->inputs()) {
        if (const Chan* c = ChanOf(e)) Freeze(c->ids, "model output");
      }
    }
  }
  Finish(out);
}

void ChannelAnalyzer::VisitNested(jit::Block* block, const std::string& where) {
  for (jit::Node* node : block->nodes()) {
    std::string kind = node->kind().toQualString();
    if (!IsMetadataOp(kind) && kind != "prim::GetAttr") {
      Unsupported(node, absl::StrCat("reads the channels inside ", where));
    }
    for (jit::Block* sub : node->blocks()) VisitNested(sub, where);
  }
  for (const jit::Value* v : block->outputs()) {
    if (const Chan* c = ChanOf(v)) {
      Freeze(c->ids, absl::StrCat("tensor returned from ", where));
    }
  }
}

void ChannelAnalyzer::VisitControlFlow(jit::Node* node) {
  std::string where;
  if (node->kind() == c10::prim::If) {
    where = absl::StrCat("a data-dependent prim::If (condition from ",
                         node->input(0)->node()->kind().toQualString(), ")");
  } else if (node->kind() == c10::prim::Loop) {
    where = "a prim::Loop whose trip count is computed";
  } else {
    where = absl::StrCat("a ", node->kind().toQualString(), " block");
  }
  for (jit::Block* sub : node->blocks()) VisitNested(sub, where);
  Unsupported(node, absl::StrCat("carries the channels into ", where));
}

void ChannelAnalyzer::Visit(jit::Node* node) {
  const std::string kind = BaseKind(node);
  if (!node->blocks().empty()) return VisitControlFlow(node);
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
  if (IsBinaryElementwise(kind)) return VisitBinary(node, kind);
  if (kind == "aten::cat") return VisitCat(node);
  if (kind == "aten::flatten") return VisitFlatten(node);
  if (kind == "aten::view" || kind == "aten::reshape") {
    return VisitReshape(node);
  }
  if (kind == "aten::permute" || kind == "aten::transpose") {
    return VisitPermute(node, kind);
  }
  if (kind == "aten::chunk" || kind == "aten::split" ||
      kind == "prim::ConstantChunk") {
    return VisitSplit(node, kind);
  }
  if (kind == "prim::ListUnpack") return VisitListUnpack(node);
  if (kind == "aten::layer_norm") return VisitLayerNorm(node);
  if (kind == "aten::group_norm") return VisitGroupNorm(node);
  if (kind == "aten::mean") return VisitMean(node);
  if (kind == "prim::ListConstruct" || kind == "prim::TupleConstruct") {
    for (const jit::Use& use : node->output()->uses()) {
      const bool ok =
          use.user->kind() == c10::prim::Return ||
          use.user->kind() == c10::aten::cat ||
          (use.user->kind() == c10::aten::append && use.offset == 0);
      if (!ok) return Unsupported(node, "list of tensors used outside cat");
    }
    if (kind == "prim::ListConstruct") {
      list_elems_[node->output()].assign(node->inputs().begin(),
                                         node->inputs().end());
    }
    return;
  }
  if (kind == "aten::append") {
    // A growing feature list (DenseNet): later reads see the appended
    // tensors; the graph is straight-line, so visiting order is run order.
    auto it = list_elems_.find(node->input(0));
    if (it == list_elems_.end()) {
      return Unsupported(node, "appends to a list the analysis does not know");
    }
    it->second.push_back(node->input(1));
    return;
  }
  if (IsMetadataOp(kind)) return;
  if (ChannelwiseOps().count(kind)) {
    for (size_t i = 1; i < node->inputs().size(); ++i) {
      if (IsTensorValue(node->input(i))) {
        return Unsupported(node, "takes a second tensor");
      }
    }
    const Chan* c = ChanOf(node->input(0));
    if (c == nullptr) return;
    if (node->outputs().size() > 1 && node->output(1)->hasUses()) {
      return Unsupported(node, "pooling indices are used");
    }
    // Pooling works on the last two dims; the channels must not be there.
    if (absl::StrContains(kind, "pool") &&
        (c->expanded || c->axis + static_cast<int64_t>(c->span.size()) >
                            RankOf(node->input(0)) - 2)) {
      return Unsupported(node, "pools over the channel dim");
    }
    chan_[node->output(0)] = *c;
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
  if (!weight || weight->dim() != 4 || !groups || *groups < 1 ||
      (!bias && !IsNone(bias_value))) {
    return Unsupported(node,
                       "weight, bias or groups is not a module attribute");
  }
  AcceptParamUse(node, 1);
  AcceptParamUse(node, 2);
  const std::string name = LayerNameOf(*wpath);
  const std::string* w = Intern(*wpath);
  const std::string* bpath = bias ? Intern(*f_.AttrPath(bias_value)) : nullptr;
  const int64_t g = *groups;
  const int64_t cout = weight->size(0);
  const int64_t cin = weight->size(1) * g;
  const Chan* in_chan = ChanOf(x);
  const Ids* in = in_chan ? &in_chan->ids : nullptr;
  const auto* out_shape = ShapeOf(node->output());
  PendingLayer layer;
  layer.geometry.name = name;
  layer.geometry.groups = g;
  layer.geometry.params_per_pair = weight->size(2) * weight->size(3);
  layer.input = x;
  if (out_shape != nullptr && out_shape->size() == 4) {
    layer.geometry.macs_per_pair = weight->size(2) * weight->size(3) *
                                   (*out_shape)[0] * (*out_shape)[2] *
                                   (*out_shape)[3];
  }
  if (in_chan != nullptr && (!in_chan->plain() || in_chan->axis != 1 ||
                             static_cast<int64_t>(in->size()) != cin)) {
    Freeze(*in, absl::StrCat(node->kind().toQualString(), " ", name,
                             ": input channels are not where the conv reads"));
    in = nullptr;
  }
  layer.in = in ? *in : Ids(cin, -1);
  Ids out_ids;
  if (g == 1) {
    out_ids = NewIds(cout, name, in == nullptr);
    for (int64_t i = 0; i < cout; ++i) {
      AddSlice(out_ids[i], w, 0, i, SliceRole::kProducerWeight);
      if (bias) AddSlice(out_ids[i], bpath, 0, i, SliceRole::kProducerBias);
    }
    if (in != nullptr) {
      for (int64_t j = 0; j < cin; ++j) {
        AddSlice((*in)[j], w, 1, j, SliceRole::kConsumerWeight);
      }
    }
  } else if (g == cin && cout == cin && in != nullptr) {
    // Depthwise: output channel i is input channel i; `groups` follows the
    // kept count.
    layer.geometry.depthwise = true;
    jit::Value* gv = node->input(groups_index);
    if (IsConstant(gv)) {
      AddGraphSite(node, groups_index, -1, *in);
    } else if (const std::string* gpath = f_.AttrPath(gv)) {
      PendingSite site;
      site.site.kind = CountSite::Kind::kAttribute;
      site.site.attribute = *gpath;
      site.ids = *in;
      sites_.push_back(std::move(site));
    } else {
      Freeze(*in, "depthwise aten::conv2d: groups is computed in the graph");
    }
    out_ids = *in;
    for (int64_t i = 0; i < cout; ++i) {
      AddSlice(out_ids[i], w, 0, i, SliceRole::kDepthwiseWeight);
      if (bias) AddSlice(out_ids[i], bpath, 0, i, SliceRole::kDepthwiseBias);
    }
  } else if (cin % g == 0 && cout % g == 0) {
    // Grouped: the same positions go in every group, so `groups` stays
    // valid on both sides. Input position p of every group reads weight
    // column p (the shared slice couples them in Finish()); output position
    // q of every group is coupled here.
    const int64_t b = cout / g;
    out_ids = NewIds(cout, name, in == nullptr);
    for (int64_t i = 0; i < cout; ++i) {
      AddSlice(out_ids[i], w, 0, i, SliceRole::kProducerWeight);
      if (bias) AddSlice(out_ids[i], bpath, 0, i, SliceRole::kProducerBias);
      if (i >= b) Union(out_ids[i % b], out_ids[i]);
    }
    if (in != nullptr) {
      const int64_t a = cin / g;
      for (int64_t j = 0; j < cin; ++j) {
        AddSlice((*in)[j], w, 1, j % a, SliceRole::kConsumerWeight);
      }
    }
  } else {
    if (in != nullptr) {
      Freeze(*in, absl::StrCat("grouped conv ", name, " (groups=", g,
                               ") does not divide its channels"));
    }
    layer.in = Ids(cin, -1);
  }
  layer.out = out_ids.empty() ? Ids(cout, -1) : out_ids;
  layers_.push_back(layer);
  if (!out_ids.empty()) chan_[node->output()] = PlainChan(out_ids, 1);
}

void ChannelAnalyzer::VisitBatchNorm(jit::Node* node) {
  const Chan* c = ChanOf(node->input(0));
  if (c == nullptr) return;
  if (!c->plain() || c->axis != 1) {
    return Unsupported(node, "channels are not on dim 1");
  }
  const Ids in = c->ids;
  static const SliceRole kRoles[] = {
      SliceRole::kBatchNormWeight, SliceRole::kBatchNormBias,
      SliceRole::kBatchNormStat, SliceRole::kBatchNormStat};
  std::vector<std::pair<const std::string*, SliceRole>> members;
  for (size_t i = 1; i <= 4; ++i) {
    jit::Value* v = node->input(i);
    if (IsNone(v)) continue;
    auto t = f_.TensorAttr(v);
    if (!t || t->dim() != 1 || t->size(0) != static_cast<int64_t>(in.size())) {
      Freeze(in, "aten::batch_norm: parameter is not a module tensor");
      chan_[node->output()] = *c;
      return;
    }
    members.emplace_back(Intern(*f_.AttrPath(v)), kRoles[i - 1]);
    AcceptParamUse(node, i);
  }
  for (size_t ch = 0; ch < in.size(); ++ch) {
    for (const auto& [path, role] : members) {
      AddSlice(in[ch], path, 0, ch, role);
    }
  }
  chan_[node->output()] = PlainChan(in, 1);
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
  const std::string* wpath = Intern(*f_.AttrPath(weight_value));
  const std::string name = LayerNameOf(*wpath);
  const std::string* bpath = bias ? Intern(*f_.AttrPath(bias_value)) : nullptr;
  const int out_dim = transposed ? 1 : 0;
  const int in_dim = 1 - out_dim;
  const int64_t fout = weight->size(out_dim);
  const int64_t fin = weight->size(in_dim);
  const Chan* c = ChanOf(x);
  const Ids* in = c ? &c->ids : nullptr;
  const auto* out_shape = ShapeOf(node->output());
  const int64_t rank = out_shape ? static_cast<int64_t>(out_shape->size()) : 0;
  if (in != nullptr && (static_cast<int64_t>(in->size()) != fin ||
                        c->span.size() != 1 || c->axis != rank - 1)) {
    Freeze(*in, "linear: input features are not the last dim");
    in = nullptr;
  }
  if (rank < 1) {
    if (in != nullptr) Freeze(*in, "linear: output shape unknown");
    in = nullptr;
  }
  PendingLayer layer;
  layer.geometry.name = name;
  layer.geometry.is_conv = false;
  layer.geometry.macs_per_pair = 1;
  for (int64_t d = 0; d + 1 < rank; ++d) {
    layer.geometry.macs_per_pair *= (*out_shape)[d];
  }
  layer.input = x;
  layer.in = in ? *in : Ids(fin, -1);
  if (in != nullptr) {
    // Runs of features from the same channel become one slice.
    for (int64_t f = 0; f < fin;) {
      int64_t e = f;
      while (e < fin && (*in)[e] == (*in)[f]) ++e;
      AddSlice((*in)[f], wpath, in_dim, f, SliceRole::kConsumerWeight, e - f);
      f = e;
    }
  }
  Ids out_ids = NewIds(fout, name, in == nullptr);
  for (int64_t i = 0; i < fout; ++i) {
    AddSlice(out_ids[i], wpath, out_dim, i, SliceRole::kProducerWeight);
    if (bias) {
      AddSlice(out_ids[i], bpath, 0, i, SliceRole::kProducerBias);
    }
  }
  layer.out = out_ids;
  layers_.push_back(layer);
  chan_[node->output()] = PlainChan(out_ids, std::max<int64_t>(rank - 1, 0));
}

void ChannelAnalyzer::VisitBinary(jit::Node* node, const std::string& kind) {
  jit::Value* a = node->input(0);
  jit::Value* b = node->input(1);
  const Chan* ca = ChanOf(a);
  const Chan* cb = IsTensorValue(b) ? ChanOf(b) : nullptr;
  for (size_t i = 2; i < node->inputs().size(); ++i) {
    if (IsTensorValue(node->input(i))) {
      return Unsupported(node, "takes a third tensor");
    }
  }
  if (ca == nullptr && cb == nullptr) return;
  const int64_t out_rank = RankOf(node->output());
  if (ca != nullptr && cb != nullptr) {
    const int64_t ra = RankOf(a), rb = RankOf(b);
    if (ca->ids.size() != cb->ids.size() || ca->span != cb->span ||
        ca->expanded != cb->expanded || ra - ca->axis != rb - cb->axis) {
      return Unsupported(node, "broadcasts between tracked tensors");
    }
    // add/sub join two branches into one stream (a residual); mul/div gate
    // one tensor by another (squeeze-excitation) without making a stream.
    const bool joins = kind == "aten::add" || kind == "aten::sub";
    for (size_t i = 0; i < ca->ids.size(); ++i) {
      Union(ca->ids[i], cb->ids[i]);
      if (joins) residual_[Find(ca->ids[i])] = true;
    }
    has_residual_ = has_residual_ || joins;
    Chan out = *ca;
    out.axis = out_rank - (ra - ca->axis);
    chan_[node->output()] = out;
    return;
  }
  const Chan& c = ca ? *ca : *cb;
  jit::Value* tracked = ca ? a : b;
  jit::Value* other = ca ? b : a;
  const bool inplace = absl::EndsWith(node->kind().toQualString(), "_");
  if (!IsTensorValue(other)) {
    chan_[node->output()] = c;
    return;
  }
  if (!ca && inplace) {
    return Unsupported(node, "in-place update of an untracked tensor");
  }
  const auto* ts = ShapeOf(tracked);
  const auto* os = ShapeOf(other);
  auto param = f_.TensorAttr(other);
  if (ts == nullptr || (os == nullptr && !param)) {
    return Unsupported(node, "operand shape unknown");
  }
  std::vector<int64_t> oshape = os ? *os : param->sizes().vec();
  const int64_t shift =
      static_cast<int64_t>(ts->size()) - static_cast<int64_t>(oshape.size());
  Chan out = c;
  out.axis = out_rank - (static_cast<int64_t>(ts->size()) - c.axis);
  // Does the other operand vary along the channel region?
  bool varies = false;
  for (size_t k = 0; k < c.span.size(); ++k) {
    const int64_t d = c.axis + static_cast<int64_t>(k) - shift;
    if (d >= 0 && oshape[d] != 1) varies = true;
  }
  if (!varies) {
    chan_[node->output()] = out;
    return;
  }
  const int64_t d = c.axis - shift;
  bool per_channel = param && c.plain() && d >= 0 &&
                     oshape[d] == static_cast<int64_t>(c.ids.size());
  for (int64_t k = 0; per_channel && k < static_cast<int64_t>(oshape.size());
       ++k) {
    if (k != d && oshape[k] != 1) per_channel = false;
  }
  if (per_channel) {
    // A bias added after a matrix product, or a per-channel scale.
    const SliceRole role = kind == "aten::add" || kind == "aten::sub"
                               ? SliceRole::kProducerBias
                               : SliceRole::kChannelScale;
    AcceptParamUse(node, ca ? 1 : 0);
    const std::string* ppath = Intern(*f_.AttrPath(other));
    for (size_t i = 0; i < c.ids.size(); ++i) {
      AddSlice(c.ids[i], ppath, static_cast<int>(d), i, role);
    }
    chan_[node->output()] = out;
    return;
  }
  Unsupported(node, "combines the channels with an untracked tensor");
}

void ChannelAnalyzer::VisitCat(jit::Node* node) {
  const auto* out_shape = ShapeOf(node->output());
  auto dim = f_.IntValue(node->input(1));
  auto elems = list_elems_.find(node->input(0));
  if (elems == list_elems_.end() || !dim || !out_shape) {
    return Unsupported(node, "concatenates a computed list");
  }
  const std::vector<jit::Value*> inputs = elems->second;
  const int64_t rank = static_cast<int64_t>(out_shape->size());
  const int64_t d = *dim < 0 ? *dim + rank : *dim;
  const Chan* first = nullptr;
  for (jit::Value* v : inputs) {
    if (const Chan* c = ChanOf(v)) {
      first = first ? first : c;
    }
  }
  if (first == nullptr) return;
  Ids out;
  if (first->plain() && first->axis == d) {
    // Channel concatenation (Inception, DenseNet): the output's channels
    // are the inputs' channels in order.
    for (jit::Value* v : inputs) {
      const Chan* c = ChanOf(v);
      if (c != nullptr && (!c->plain() || c->axis != d)) {
        return Unsupported(node, "inputs keep their channels on other dims");
      }
      if (c != nullptr) {
        out.insert(out.end(), c->ids.begin(), c->ids.end());
      } else {
        const auto* s = ShapeOf(v);
        Ids fresh = NewIds(s ? (*s)[d] : 0, "cat input", true,
                           "aten::cat: input channels are not tracked");
        out.insert(out.end(), fresh.begin(), fresh.end());
      }
    }
    chan_[node->output()] = PlainChan(out, d);
    return;
  }
  // Concatenating along batch or space keeps channels aligned.
  for (jit::Value* v : inputs) {
    const Chan* c = ChanOf(v);
    if (c == nullptr || c->ids.size() != first->ids.size() ||
        c->span != first->span || c->axis != first->axis) {
      return Unsupported(node, "concatenates tracked and untracked tensors");
    }
    for (size_t i = 0; i < c->ids.size(); ++i) {
      Union(first->ids[i], c->ids[i]);
    }
  }
  chan_[node->output()] = *first;
}

Chan ChannelAnalyzer::Expand(const Chan& in, const std::vector<int64_t>& shape,
                             int64_t start, int64_t end) {
  // Feature index over dims [start, end] in row-major order -> channel id.
  std::vector<int64_t> dims(shape.begin() + start, shape.begin() + end + 1);
  int64_t total = 1;
  for (int64_t x : dims) total *= x;
  const int64_t region_start = in.axis - start;
  const int64_t region_len = static_cast<int64_t>(in.span.size());
  Ids out(total);
  std::vector<int64_t> idx(dims.size(), 0);
  for (int64_t f = 0; f < total; ++f) {
    int64_t pos = 0;
    for (int64_t k = 0; k < region_len; ++k) {
      pos = pos * in.span[k] + idx[region_start + k];
    }
    out[f] = in.ids[pos];
    for (int64_t k = static_cast<int64_t>(dims.size()) - 1; k >= 0; --k) {
      if (++idx[k] < dims[k]) break;
      idx[k] = 0;
    }
  }
  Chan c = PlainChan(std::move(out), start);
  c.expanded = total != static_cast<int64_t>(in.ids.size()) || in.expanded;
  return c;
}

void ChannelAnalyzer::VisitFlatten(jit::Node* node) {
  const Chan* c = ChanOf(node->input(0));
  if (c == nullptr) return;
  const auto* is = ShapeOf(node->input(0));
  auto start = f_.IntValue(node->input(1));
  auto end = f_.IntValue(node->input(2));
  if (!is || !start || !end) return Unsupported(node, "dims unknown");
  const int64_t rank = static_cast<int64_t>(is->size());
  int64_t s = *start < 0 ? *start + rank : *start;
  int64_t e = *end < 0 ? *end + rank : *end;
  const int64_t lo = c->axis;
  const int64_t hi = c->axis + static_cast<int64_t>(c->span.size()) - 1;
  if (e < lo || s > hi) {
    Chan out = *c;
    if (s < lo) out.axis -= e - s;
    chan_[node->output()] = out;
    return;
  }
  if (s > lo || e < hi) {
    return Unsupported(node, "flattens part of a split channel region");
  }
  chan_[node->output()] = Expand(*c, *is, s, e);
}

void ChannelAnalyzer::VisitReshape(jit::Node* node) {
  const Chan* c = ChanOf(node->input(0));
  if (c == nullptr) return;
  const auto* is = ShapeOf(node->input(0));
  const auto* os = ShapeOf(node->output());
  if (!is || !os) return Unsupported(node, "shape unknown");
  if (*is == *os) {
    chan_[node->output()] = *c;
    return;
  }
  const int64_t ri = static_cast<int64_t>(is->size());
  const int64_t ro = static_cast<int64_t>(os->size());
  int64_t p = 0;
  while (p < ri && p < ro && (*is)[p] == (*os)[p]) ++p;
  int64_t q = 0;
  while (q < ri - p && q < ro - p && (*is)[ri - 1 - q] == (*os)[ro - 1 - q]) {
    ++q;
  }
  const int64_t lo = c->axis;
  const int64_t hi = c->axis + static_cast<int64_t>(c->span.size());  // excl.
  // The changed input dims are [p, ri - q), the output dims [p, ro - q).
  if (hi <= p || lo >= ri - q) {
    Chan out = *c;
    if (lo >= ri - q) out.axis += ro - ri;
    chan_[node->output()] = out;
    return;
  }
  // The size argument: a list (constant or built in the graph) or a
  // constant folded into one value.
  jit::Value* size = node->input(1);
  jit::Node* sn = size->node();
  auto element_is_constant = [&](int64_t k) {
    if (sn->kind() == c10::prim::ListConstruct) {
      auto v = jit::toIValue(sn->input(k));
      return IsConstant(sn->input(k)) && v && v->isInt() && v->toInt() != -1;
    }
    if (sn->kind() == c10::prim::Constant) {
      auto v = jit::toIValue(size);
      return v && v->isIntList() && v->toIntVector()[k] != -1;
    }
    return false;
  };
  // Rewrites a constant list element k to the kept count of `ids` / div.
  auto site_for = [&](int64_t k, const Ids& ids, int64_t div) {
    if (!element_is_constant(k)) return;
    if (sn->kind() == c10::prim::ListConstruct) {
      AddGraphSite(sn, k, -1, ids, div);
    } else {
      AddGraphSite(node, 1, k, ids, div);
    }
  };
  if (sn->kind() != c10::prim::ListConstruct &&
      sn->kind() != c10::prim::Constant) {
    return Unsupported(node, "shape list is computed in the graph");
  }
  if (lo == p && hi == ri - q && !c->expanded) {
    // Only the channel region changes: split or merge it.
    std::vector<int64_t> span(os->begin() + p, os->begin() + (ro - q));
    if (c->span.size() == 1 && span.size() > 1) {
      // Split (channel shuffle): the dim the program computes shrinks.
      std::vector<int64_t> dynamic;
      for (size_t k = 0; k < span.size(); ++k) {
        if (!element_is_constant(p + k)) dynamic.push_back(k);
      }
      if (dynamic.size() > 1) {
        return Unsupported(node,
                           "splits the channels into several computed dims");
      }
      const size_t free = dynamic.empty() ? span.size() - 1 : dynamic[0];
      int64_t stride = 1;
      for (size_t k = free + 1; k < span.size(); ++k) stride *= span[k];
      const int64_t n = span[free];
      std::map<int64_t, int> first_at;
      for (size_t i = 0; i < c->ids.size(); ++i) {
        const int64_t coord = (static_cast<int64_t>(i) / stride) % n;
        auto [it, inserted] = first_at.emplace(coord, c->ids[i]);
        if (!inserted) Union(it->second, c->ids[i]);
      }
      if (dynamic.empty()) {
        site_for(p + free, c->ids, static_cast<int64_t>(c->ids.size()) / n);
      }
      Chan out = *c;
      out.span = span;
      chan_[node->output()] = out;
      return;
    }
    if (span.size() == 1) {
      // Merge (back to one channel dim).
      site_for(p, c->ids, 1);
      chan_[node->output()] = PlainChan(c->ids, p);
      return;
    }
    return Unsupported(node, "reshapes a split channel region");
  }
  if (lo >= p && hi <= ri - q && ro - q - p == 1) {
    // [N, C, H, W] -> [N, C*H*W]: channels flattened with other dims.
    Chan out = Expand(*c, *is, p, ri - q - 1);
    site_for(p, out.ids, 1);
    chan_[node->output()] = out;
    return;
  }
  Unsupported(node, "reshape mixes the channels with other dims");
}

void ChannelAnalyzer::VisitPermute(jit::Node* node, const std::string& kind) {
  const Chan* c = ChanOf(node->input(0));
  if (c == nullptr) return;
  const int64_t rank = RankOf(node->input(0));
  if (rank < 0) return Unsupported(node, "shape unknown");
  std::vector<int64_t> perm(rank);
  std::iota(perm.begin(), perm.end(), 0);
  if (kind == "aten::transpose") {
    auto d0 = f_.IntValue(node->input(1));
    auto d1 = f_.IntValue(node->input(2));
    if (!d0 || !d1) return Unsupported(node, "dims are computed");
    std::swap(perm[*d0 < 0 ? *d0 + rank : *d0],
              perm[*d1 < 0 ? *d1 + rank : *d1]);
  } else {
    auto dims = jit::toIValue(node->input(1));
    if (!dims || !dims->isIntList()) {
      return Unsupported(node, "dims are computed");
    }
    auto v = dims->toIntVector();
    if (static_cast<int64_t>(v.size()) != rank) {
      return Unsupported(node, "dims do not match the rank");
    }
    for (int64_t k = 0; k < rank; ++k) perm[k] = v[k] < 0 ? v[k] + rank : v[k];
  }
  const int64_t lo = c->axis;
  const int64_t len = static_cast<int64_t>(c->span.size());
  // Output positions of the region's dims, in output order.
  std::vector<int64_t> where;
  for (int64_t k = 0; k < rank; ++k) {
    if (perm[k] >= lo && perm[k] < lo + len) where.push_back(k);
  }
  if (c->expanded || where.back() - where.front() + 1 != len) {
    return Unsupported(node, "moves the channel dims apart");
  }
  Chan out = *c;
  out.axis = where.front();
  if (len > 1) {
    // Reorder the ids like the data: local permutation of the region.
    std::vector<int64_t> local(len);
    for (int64_t k = 0; k < len; ++k) local[k] = perm[where[k]] - lo;
    std::vector<int64_t> strides(len, 1);
    for (int64_t k = len - 2; k >= 0; --k) {
      strides[k] = strides[k + 1] * c->span[k + 1];
    }
    std::vector<int64_t> span(len);
    for (int64_t k = 0; k < len; ++k) span[k] = c->span[local[k]];
    std::vector<int64_t> idx(len, 0);
    for (size_t i = 0; i < c->ids.size(); ++i) {
      int64_t src = 0;
      for (int64_t k = 0; k < len; ++k) src += idx[k] * strides[local[k]];
      out.ids[i] = c->ids[src];
      for (int64_t k = len - 1; k >= 0; --k) {
        if (++idx[k] < span[k]) break;
        idx[k] = 0;
      }
    }
    out.span = span;
  }
  chan_[node->output()] = out;
}

void ChannelAnalyzer::VisitSplit(jit::Node* node, const std::string& kind) {
  const Chan* c = ChanOf(node->input(0));
  if (c == nullptr) return;
  const auto* is = ShapeOf(node->input(0));
  if (is == nullptr) return Unsupported(node, "shape unknown");
  const int64_t rank = static_cast<int64_t>(is->size());
  std::optional<int64_t> dim, chunks, size;
  if (kind == "prim::ConstantChunk") {
    dim = node->i(c10::attr::dim);
    chunks = node->i(c10::attr::chunks);
  } else {
    dim = f_.IntValue(node->input(2));
    if (kind == "aten::chunk") {
      chunks = f_.IntValue(node->input(1));
    } else {
      size = f_.IntValue(node->input(1));
    }
  }
  if (!dim || (!chunks && !size)) {
    return Unsupported(node, "split sizes are computed or a list");
  }
  const int64_t d = *dim < 0 ? *dim + rank : *dim;
  const int64_t total = (*is)[d];
  const int64_t n = chunks ? *chunks : (total + *size - 1) / *size;
  std::vector<Chan> pieces;
  if (!c->plain() || c->axis != d) {
    // Splitting batch or space: every piece carries all channels.
    if (c->axis <= d && d < c->axis + static_cast<int64_t>(c->span.size())) {
      return Unsupported(node, "splits a split channel region");
    }
    pieces.assign(n, *c);
  } else {
    if (n < 1 || total % n != 0) {
      return Unsupported(node, "pieces of unequal size");
    }
    // Each piece must keep the same count: position p of every piece is
    // one coupled channel.
    const int64_t m = total / n;
    for (int64_t k = 0; k < n; ++k) {
      Ids ids(c->ids.begin() + k * m, c->ids.begin() + (k + 1) * m);
      for (int64_t p = 0; k > 0 && p < m; ++p) Union(c->ids[p], ids[p]);
      pieces.push_back(PlainChan(std::move(ids), d));
    }
    if (size && IsConstant(node->input(1))) {
      AddGraphSite(node, 1, -1, pieces[0].ids);
    }
  }
  if (node->outputs().size() == pieces.size()) {
    for (size_t k = 0; k < pieces.size(); ++k) {
      chan_[node->output(k)] = pieces[k];
    }
    return;
  }
  for (const jit::Use& use : node->output()->uses()) {
    if (use.user->kind() != c10::prim::ListUnpack) {
      for (const Chan& piece : pieces) {
        Freeze(piece.ids, absl::StrCat(node->kind().toQualString(),
                                       ": pieces used as a list"));
      }
      return;
    }
  }
  list_chans_[node->output()] = std::move(pieces);
}

void ChannelAnalyzer::VisitListUnpack(jit::Node* node) {
  auto it = list_chans_.find(node->input());
  if (it == list_chans_.end()) return Unsupported(node, "unpacks a list");
  for (size_t k = 0; k < node->outputs().size() && k < it->second.size(); ++k) {
    chan_[node->output(k)] = it->second[k];
  }
}

bool ChannelAnalyzer::AddNormAffine(jit::Node* node, const Ids& ids) {
  std::vector<std::pair<size_t, const std::string*>> params;
  for (size_t i = 2; i <= 3; ++i) {
    jit::Value* v = node->input(i);
    if (IsNone(v)) continue;
    auto t = f_.TensorAttr(v);
    if (!t || t->dim() != 1 || t->size(0) != static_cast<int64_t>(ids.size())) {
      return false;
    }
    params.emplace_back(i, Intern(*f_.AttrPath(v)));
  }
  for (const auto& [input, path] : params) {
    AcceptParamUse(node, input);
    for (size_t ch = 0; ch < ids.size(); ++ch) {
      AddSlice(ids[ch], path, 0, ch, SliceRole::kNormAffine);
    }
  }
  return true;
}

void ChannelAnalyzer::VisitLayerNorm(jit::Node* node) {
  const Chan* c = ChanOf(node->input(0));
  if (c == nullptr) return;
  auto shape = jit::toIValue(node->input(1));
  const int64_t rank = RankOf(node->input(0));
  if (!c->plain() || c->axis != rank - 1 || !shape || !shape->isIntList() ||
      shape->toIntVector().size() != 1) {
    return Unsupported(node, "normalises over more than the channel dim");
  }
  if (!AddNormAffine(node, c->ids)) {
    return Unsupported(node, "affine parameter is not a module tensor");
  }
  if (IsConstant(node->input(1))) AddGraphSite(node, 1, 0, c->ids);
  chan_[node->output()] = *c;
}

void ChannelAnalyzer::VisitGroupNorm(jit::Node* node) {
  const Chan* c = ChanOf(node->input(0));
  if (c == nullptr) return;
  auto groups = f_.IntValue(node->input(1));
  const int64_t n = static_cast<int64_t>(c->ids.size());
  if (!c->plain() || c->axis != 1 || !groups || *groups < 1 ||
      n % *groups != 0) {
    return Unsupported(node, "channels do not split into its groups");
  }
  // The same positions go in every group, so num_groups stays valid.
  const int64_t a = n / *groups;
  for (int64_t i = a; i < n; ++i) Union(c->ids[i % a], c->ids[i]);
  if (!AddNormAffine(node, c->ids)) {
    return Unsupported(node, "affine parameter is not a module tensor");
  }
  chan_[node->output()] = *c;
}

void ChannelAnalyzer::VisitMean(jit::Node* node) {
  const Chan* c = ChanOf(node->input(0));
  if (c == nullptr) return;
  auto dims = jit::toIValue(node->input(1));
  auto keep = node->inputs().size() > 2 ? jit::toIValue(node->input(2))
                                        : c10::optional<c10::IValue>();
  const int64_t rank = RankOf(node->input(0));
  if (!dims || !dims->isIntList() || rank < 0 || c->expanded) {
    return Unsupported(node, "mean over computed dims");
  }
  const bool keepdim = keep && keep->isBool() && keep->toBool();
  Chan out = *c;
  for (int64_t d : dims->toIntVector()) {
    if (d < 0) d += rank;
    if (d >= c->axis && d < c->axis + static_cast<int64_t>(c->span.size())) {
      return Unsupported(node, "mean over the channel dim");
    }
    if (d < c->axis && !keepdim) --out.axis;
  }
  chan_[node->output()] = out;
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
  // A tensor slice claimed by two channels (shared weights, the columns of
  // a grouped conv) couples them. Paths are interned: pointers identify
  // tensors.
  // Owners are kept per (tensor, dim) in a vector indexed by the slice's
  // first index: one hash lookup per slice, no allocation per channel.
  struct TensorDimHash {
    size_t operator()(const std::pair<const std::string*, int>& k) const {
      return std::hash<const void*>()(k.first) * 31 +
             static_cast<size_t>(k.second);
    }
  };
  std::unordered_map<std::pair<const std::string*, int>, std::vector<int>,
                     TensorDimHash>
      owner;
  std::pair<const std::string*, int> last_key{nullptr, -1};
  std::vector<int>* last = nullptr;
  for (size_t id = 0; id < slices_.size(); ++id) {
    for (const TensorSlice& s : slices_[id]) {
      if (last == nullptr || last_key.first != s.tensor ||
          last_key.second != s.dim) {
        last_key = {s.tensor, s.dim};
        last = &owner[last_key];
      }
      const size_t index = static_cast<size_t>(s.index);
      if (last->size() <= index) last->resize(index + 1, -1);
      int& o = (*last)[index];
      if (o < 0) {
        o = static_cast<int>(id);
      } else {
        Union(o, static_cast<int>(id));
      }
    }
  }
  std::map<std::string, std::string> escaped;
  ValidateParamUses(f_.graph()->block(), escaped);
  std::unordered_map<const std::string*, std::string> escaped_by;
  for (const auto& [path, op] : escaped) {
    auto it = names_->find(path);
    if (it != names_->end()) escaped_by[&*it] = op;
  }
  for (size_t id = 0; !escaped_by.empty() && id < slices_.size(); ++id) {
    for (const TensorSlice& s : slices_[id]) {
      auto it = escaped_by.find(s.tensor);
      if (it != escaped_by.end()) {
        Freeze({static_cast<int>(id)},
               absl::StrCat(it->second, ": also reads ", *s.tensor));
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
  std::vector<int> group_of(n, -1);   // group root -> group index
  std::vector<ChannelRef> ref_of(n);  // class root -> ref
  std::vector<ChannelGroup>& groups = out.groups_;
  for (const Origin& o : origins_) {
    if (o.ids.empty()) continue;
    int& index = group_of[gfind(Find(o.ids[0]))];
    if (index < 0) {
      index = static_cast<int>(groups.size());
      ChannelGroup group;
      group.id = index;
      group.name = o.name;
      groups.push_back(std::move(group));
    }
    ChannelGroup& group = groups[index];
    if (std::find(group.producers.begin(), group.producers.end(), o.name) ==
        group.producers.end()) {
      group.producers.push_back(o.name);
    }
    group.stem = group.stem || o.stem;
    for (int id : o.ids) {
      const int root = Find(id);
      if (ref_of[root].group >= 0) continue;
      ref_of[root] = ChannelRef{index, static_cast<int>(group.channels.size())};
      group.channels.emplace_back();
    }
  }
  // Slices per class, so each channel's list is allocated once.
  std::vector<size_t> class_slices(n, 0);
  for (int id = 0; id < n; ++id) class_slices[Find(id)] += slices_[id].size();
  // Consumer and BatchNorm layer names, once per tensor and group.
  std::unordered_map<const std::string*, std::string> layer_of;
  std::vector<std::unordered_set<const std::string*>> listed(groups.size());
  for (int id = 0; id < n; ++id) {
    const int root = Find(id);
    const ChannelRef& ref = ref_of[root];
    ChannelGroup& group = groups[ref.group];
    if (auto frozen = frozen_.find(id);
        frozen != frozen_.end() && group.prunable) {
      group.prunable = false;
      group.frozen_reason = frozen->second;
    }
    if (residual_[root]) group.residual = true;
    for (const TensorSlice& s : slices_[id]) {
      std::vector<std::string>* list = nullptr;
      if (s.role == SliceRole::kConsumerWeight) list = &group.consumers;
      if (s.role == SliceRole::kBatchNormWeight) list = &group.batch_norms;
      if (list == nullptr || !listed[ref.group].insert(s.tensor).second) {
        continue;
      }
      auto [it, inserted] = layer_of.emplace(s.tensor, std::string());
      if (inserted) it->second = LayerNameOf(*s.tensor);
      if (std::find(list->begin(), list->end(), it->second) == list->end()) {
        list->push_back(it->second);
      }
    }
    auto& dst = group.channels[ref.channel].slices;
    if (dst.empty()) {
      dst = std::move(slices_[id]);
      dst.reserve(class_slices[root]);
    } else {
      dst.insert(dst.end(), slices_[id].begin(), slices_[id].end());
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
  auto shapes = (*forward)->RecordShapes(input_shape);
  if (!shapes.ok()) return shapes.status();
  std::unique_ptr<ChannelDependencyGraph> graph(new ChannelDependencyGraph());
  graph->input_shape_ = input_shape;
  graph->shapes_ = std::move(*shapes);
  try {
    ChannelAnalyzer analyzer(**forward, graph->shapes_, &graph->tensor_paths_);
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
