#include "core/pruning/importance_criterion.h"

#include <torch/script.h>

#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "core/pruning/inlined_forward.h"
#include "core/util/torch_status.h"

namespace pruneserve::pruning {

std::vector<double> AggregateMemberScores(
    const std::vector<std::vector<double>>& members) {
  if (members.empty()) return {};
  if (members.size() == 1) return members[0];
  std::vector<double> total(members[0].size(), 0.0);
  for (const auto& m : members) {
    double max = 0.0;
    for (double v : m) max = std::max(max, v);
    for (size_t i = 0; i < total.size() && i < m.size(); ++i) {
      total[i] += max > 0 ? m[i] / max : 0.0;
    }
  }
  return total;
}

namespace {

// Scores each slice of role `role`: `fn(tensor, dim)` returns one score per
// index along `dim` (computed once per tensor and dim, vectorised), and a
// slice scores the sum over its indices. Collects one vector per tensor
// (member). Channels without such a slice score 0.
absl::StatusOr<std::vector<std::vector<double>>> MemberScores(
    const ChannelGroup& group, const CriterionContext& ctx, SliceRole role,
    const std::function<torch::Tensor(const torch::Tensor&, int)>& fn) {
  if (ctx.analysis == nullptr) {
    return absl::InvalidArgumentError("criterion needs the analysis");
  }
  // Members in the order the group first names them (tensor paths are
  // interned by the analysis: one pointer per tensor).
  std::vector<std::vector<double>> members;
  std::unordered_map<const std::string*, size_t> member_of;
  std::map<std::pair<const std::string*, int>, std::vector<double>> per_index;
  try {
    torch::NoGradGuard no_grad;
    for (size_t c = 0; c < group.channels.size(); ++c) {
      for (const TensorSlice& s : group.channels[c].slices) {
        if (s.role != role) continue;
        auto key = std::make_pair(s.tensor, s.dim);
        auto it = per_index.find(key);
        if (it == per_index.end()) {
          auto v =
              internal::AttrAtPath(ctx.analysis->forward().module(), *s.tensor);
          if (!v.ok() || !v->isTensor()) continue;
          torch::Tensor scores =
              fn(v->toTensor().detach(), s.dim).to(torch::kDouble).contiguous();
          it = per_index
                   .emplace(key, std::vector<double>(scores.data_ptr<double>(),
                                                     scores.data_ptr<double>() +
                                                         scores.numel()))
                   .first;
        }
        auto [member, added] = member_of.emplace(s.tensor, members.size());
        if (added) members.emplace_back(group.channels.size(), 0.0);
        std::vector<double>& out = members[member->second];
        for (int64_t i = 0; i < s.count; ++i) out[c] += it->second[s.index + i];
      }
    }
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, absl::StrCat("scoring ", group.name),
                              absl::StatusCode::kInternal);
  }
  return members;
}

// The 1-norm of each row of `rows`, in double. LibTorch's 1-norm runs its
// generic, unvectorised reduction, and abs().sum() writes a temporary the
// size of the weights (fresh pages, on a model's worth of weights); this
// reads each float once, with eight independent partial sums.
torch::Tensor RowL1(const torch::Tensor& rows) {
  if (rows.scalar_type() != torch::kFloat) {
    return rows.norm(1, 1).to(torch::kDouble);
  }
  const torch::Tensor m = rows.contiguous();
  const int64_t n = m.size(0), k = m.size(1);
  torch::Tensor out = torch::empty({n}, torch::kDouble);
  const float* data = m.data_ptr<float>();
  double* norms = out.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) {
    const float* row = data + i * k;
    float partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= k; j += 8) {
      for (int l = 0; l < 8; ++l) partial[l] += std::fabs(row[j + l]);
    }
    double sum = 0;
    for (float s : partial) sum += s;
    for (; j < k; ++j) sum += std::fabs(row[j]);
    norms[i] = sum;
  }
  return out;
}

// Norm of every slice of `t` along `dim`.
torch::Tensor SliceNorms(const torch::Tensor& t, int dim, int p) {
  torch::Tensor rows = t.transpose(0, dim).reshape({t.size(dim), -1});
  return p == 1 ? RowL1(rows) : rows.norm(p, 1);
}

class BnGammaCriterion : public ImportanceCriterion {
 public:
  std::string name() const override { return "bn_gamma"; }
  absl::StatusOr<std::vector<double>> Score(
      const ChannelGroup& group, const CriterionContext& ctx) const override {
    auto members =
        MemberScores(group, ctx, SliceRole::kBatchNormWeight,
                     [](const torch::Tensor& t, int) { return t.abs(); });
    if (!members.ok()) return members.status();
    if (members->empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(group.name, " has no BatchNorm"));
    }
    return AggregateMemberScores(*members);
  }
};

class NormCriterion : public ImportanceCriterion {
 public:
  explicit NormCriterion(int p) : p_(p) {}
  std::string name() const override { return p_ == 1 ? "l1" : "l2"; }
  absl::StatusOr<std::vector<double>> Score(
      const ChannelGroup& group, const CriterionContext& ctx) const override {
    const int p = p_;
    auto members = MemberScores(
        group, ctx, SliceRole::kProducerWeight,
        [p](const torch::Tensor& t, int dim) { return SliceNorms(t, dim, p); });
    if (!members.ok()) return members.status();
    if (members->empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(group.name, " has no producing weights"));
    }
    return AggregateMemberScores(*members);
  }

 private:
  int p_;
};

// 1 - APoZ of the channel at the input of each consuming layer.
class ApozCriterion : public ImportanceCriterion {
 public:
  std::string name() const override { return "apoz"; }
  absl::StatusOr<std::vector<double>> Score(
      const ChannelGroup& group, const CriterionContext& ctx) const override {
    if (ctx.sparsity == nullptr) {
      return absl::FailedPreconditionError(
          "apoz needs calibration data (activation statistics)");
    }
    std::map<std::string, std::vector<double>> members;
    for (size_t c = 0; c < group.channels.size(); ++c) {
      for (const TensorSlice& s : group.channels[c].slices) {
        if (s.role != SliceRole::kConsumerWeight) continue;
        const std::string layer = LayerNameOf(*s.tensor);
        const LayerActivationStats* stats = ctx.sparsity->Find(layer);
        if (stats == nullptr || stats->channel_apoz.size() <
                                    static_cast<size_t>(s.index + s.count)) {
          continue;
        }
        double apoz = 0.0;
        for (int64_t i = 0; i < s.count; ++i) {
          apoz += stats->channel_apoz[s.index + i];
        }
        auto& scores = members[layer];
        scores.resize(group.channels.size(), 0.0);
        scores[c] += 1.0 - apoz / static_cast<double>(s.count);
      }
    }
    if (members.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(group.name, " has no measured consumer"));
    }
    std::vector<std::vector<double>> list;
    for (auto& [_, v] : members) list.push_back(std::move(v));
    return AggregateMemberScores(list);
  }
};

class RandomCriterion : public ImportanceCriterion {
 public:
  std::string name() const override { return "random"; }
  absl::StatusOr<std::vector<double>> Score(
      const ChannelGroup& group, const CriterionContext& ctx) const override {
    // Seeded per group so scores do not depend on which groups are scored.
    std::seed_seq seq{
        static_cast<uint64_t>(ctx.seed),
        static_cast<uint64_t>(std::hash<std::string>()(group.name))};
    std::mt19937_64 rng(seq);
    std::uniform_real_distribution<double> dist(0.0, 1.0);
    std::vector<double> scores(group.channels.size());
    for (double& s : scores) s = dist(rng);
    return scores;
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<ImportanceCriterion>> MakeCriterion(
    CriterionKind kind) {
  switch (kind) {
    case CriterionKind::kBnGamma:
      return std::make_unique<BnGammaCriterion>();
    case CriterionKind::kL1:
      return std::make_unique<NormCriterion>(1);
    case CriterionKind::kL2:
      return std::make_unique<NormCriterion>(2);
    case CriterionKind::kApoz:
      return std::make_unique<ApozCriterion>();
    case CriterionKind::kRandom:
      return std::make_unique<RandomCriterion>();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown criterion kind ", static_cast<int>(kind)));
}

absl::StatusOr<std::unique_ptr<ImportanceCriterion>> MakeCriterion(
    const std::string& name) {
  auto kind = ParseCriterionKind(name);
  if (!kind.ok()) return kind.status();
  return MakeCriterion(*kind);
}

}  // namespace pruneserve::pruning
