// Pruning engine cost on large zoo models: channel analysis, FLOPs counting
// and surgery time for ResNet-101 and VGG-19-BN at 32x32, with the uniform
// policy (ratio 0.5, inner-block channels for ResNet). Prints a table and a
// one-line summary. Not a test: timing never decides anything.
#include <torch/script.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "core/models/model_zoo.h"
#include "core/pruning/channel_dependency_graph.h"
#include "core/pruning/flops_counter.h"
#include "core/pruning/importance_criterion.h"
#include "core/pruning/module_surgery.h"
#include "core/pruning/ratio_policy.h"
#include "core/util/allocator_pages.h"

namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since)
      .count();
}

int Fail(const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "%s: %s\n", what.c_str(), s.ToString().c_str());
  return 1;
}

}  // namespace

int main() {
  // The pruning engine frees and re-allocates weight-sized buffers.
  pruneserve::KeepAllocatorPages();
  namespace pp = pruneserve::pruning;
  const std::vector<int64_t> shape = {1, 3, 32, 32};
  std::printf("%-10s %7s %7s %11s %11s %9s %9s %9s %11s %11s\n", "model",
              "groups", "frozen", "params", "MACs", "flops_ms", "anal_ms",
              "surg_ms", "params_after", "MACs_after");
  double total_analysis = 0, total_surgery = 0;
  for (const std::string arch : {"resnet101", "vgg19_bn"}) {
    pruneserve::models::ZooOptions zoo;
    zoo.arch = arch;
    auto model = pruneserve::models::BuildZooModel(zoo);
    if (!model.ok()) return Fail(arch, model.status());
    model->eval();
    torch::jit::Module work = model->clone();

    auto t0 = Clock::now();
    auto before = pp::CountModelCost(work, shape);
    const double flops_ms = Ms(t0);
    if (!before.ok()) return Fail("flops", before.status());

    t0 = Clock::now();
    auto analysis = pp::ChannelDependencyGraph::Build(work, shape);
    const double analysis_ms = Ms(t0);
    if (!analysis.ok()) return Fail("analysis", analysis.status());
    int frozen = 0;
    for (const auto& g : (*analysis)->groups()) frozen += g.prunable ? 0 : 1;

    auto criterion = pp::MakeCriterion("bn_gamma");
    pp::CriterionContext ctx{analysis->get(), nullptr, 0};
    std::vector<std::vector<double>> scores((*analysis)->groups().size());
    std::vector<std::string> errors(scores.size());
    for (const auto& g : (*analysis)->groups()) {
      if (!g.prunable) continue;
      auto s = (*criterion)->Score(g, ctx);
      if (s.ok()) scores[g.id] = *s;
    }
    pp::PolicyOptions policy;
    policy.kind = pp::PolicyKind::kUniform;
    policy.ratio = 0.5;
    auto plan = pp::PlanPruning(**analysis, scores, errors, nullptr, policy);
    if (!plan.ok()) return Fail("plan", plan.status());

    t0 = Clock::now();
    auto surgery = pp::ApplyChannelPruning(**analysis, plan->masks());
    const double surgery_ms = Ms(t0);
    if (!surgery.ok()) return Fail("surgery", surgery.status());
    auto after = pp::CountModelCost(work, shape);
    if (!after.ok()) return Fail("flops after", after.status());

    std::printf(
        "%-10s %7zu %7d %11lld %11lld %9.1f %9.1f %9.1f %11lld %11lld\n",
        arch.c_str(), (*analysis)->groups().size(), frozen,
        static_cast<long long>(before->total_params),
        static_cast<long long>(before->total_macs), flops_ms, analysis_ms,
        surgery_ms, static_cast<long long>(after->total_params),
        static_cast<long long>(after->total_macs));
    total_analysis += analysis_ms;
    total_surgery += surgery_ms;
  }
  std::printf("summary: analysis %.1f ms, surgery %.1f ms for both models\n",
              total_analysis, total_surgery);
  return 0;
}
