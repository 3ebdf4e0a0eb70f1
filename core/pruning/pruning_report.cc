#include "core/pruning/pruning_report.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace pruneserve::pruning {

namespace {

std::string Percent(int64_t before, int64_t after) {
  if (before <= 0) return "n/a";
  return absl::StrFormat("%.2f%%", 100.0 * (before - after) / before);
}

}  // namespace

std::string RenderPruningReport(const v1::PruningReport& report,
                                const ReportRenderOptions& options) {
  int width = 5;
  for (const auto& l : report.layers()) {
    width = std::max(width, static_cast<int>(l.name().size()));
  }
  width = std::min(width, options.max_name_width);
  std::string out = absl::StrFormat(
      "pruning report: policy=%s criterion=%s input=[%s] calibration=%d\n",
      report.policy(), report.criterion(),
      absl::StrJoin(report.input_shape(), ","), report.calibration_examples());
  if (!report.refined_rule().empty()) {
    absl::StrAppend(&out, "refined rule: ", report.refined_rule(), "\n");
  }
  if (report.ratio_scale() != 0 && report.policy() == "target_flops") {
    absl::StrAppendFormat(&out, "ratio scale: %.4f\n", report.ratio_scale());
  }
  if (report.ratio_scale() != 0 &&
      (report.policy() == "global_normalized" || report.policy() == "lamp")) {
    absl::StrAppendFormat(&out, "global fraction: %.4f\n",
                          report.ratio_scale());
  }
  if (report.sensitivity_evaluations() > 0) {
    absl::StrAppendFormat(
        &out,
        "sensitivity: base loss %.4f, %d evaluations in %.0f ms; damage = "
        "loss increase at removed:damage\n",
        report.base_loss(), report.sensitivity_evaluations(),
        report.sensitivity_ms());
  }
  absl::StrAppendFormat(&out, "%-*s %8s %8s %9s %7s %10s  %s\n", width, "layer",
                        "before", "after", "sparsity", "ratio", "threshold",
                        "note");
  int pruned = 0;
  for (const auto& l : report.layers()) {
    if (!options.include_skipped && !l.skip_reason().empty()) continue;
    if (l.channels_after() < l.channels_before()) ++pruned;
    std::string name = l.name();
    if (static_cast<int>(name.size()) > width) {
      name = "..." + name.substr(name.size() - width + 3);
    }
    std::string sparsity =
        l.sparsity() < 0 ? "-" : absl::StrFormat("%.3f", l.sparsity());
    std::vector<std::string> notes;
    if (!l.criterion().empty()) notes.push_back("criterion " + l.criterion());
    if (!l.skip_reason().empty()) notes.push_back(l.skip_reason());
    if (l.damage_size() > 1) {
      std::vector<std::string> points;
      for (int i = 1; i < l.damage_size() && i < l.damage_removed_size(); ++i) {
        points.push_back(
            absl::StrFormat("%d:%+.3f", l.damage_removed(i), l.damage(i)));
      }
      notes.push_back("damage " + absl::StrJoin(points, " "));
    }
    absl::StrAppendFormat(&out, "%-*s %8d %8d %9s %7.3f %10.4g  %s\n", width,
                          name, l.channels_before(), l.channels_after(),
                          sparsity, l.ratio(), l.threshold(),
                          absl::StrJoin(notes, "; "));
  }
  absl::StrAppendFormat(&out, "params: %d -> %d (-%s)\n",
                        report.params_before(), report.params_after(),
                        Percent(report.params_before(), report.params_after()));
  absl::StrAppendFormat(&out, "MACs:   %d -> %d (-%s)\n", report.flops_before(),
                        report.flops_after(),
                        Percent(report.flops_before(), report.flops_after()));
  if (report.latency_probes() > 0) {
    absl::StrAppendFormat(
        &out,
        "latency (CPU, fastest pass): %.3f ms -> %.3f ms (-%.1f%%), MAC target "
        "%.3f found in %d pruned copies\n",
        report.latency_dense_ms(), report.latency_pruned_ms(),
        100.0 * (1.0 - report.latency_pruned_ms() /
                           std::max(1e-9, report.latency_dense_ms())),
        report.latency_flops_target(), report.latency_probes());
  }
  for (const auto& w : report.warnings()) {
    absl::StrAppend(&out, "warning: ", w, "\n");
  }
  absl::StrAppendFormat(&out, "%d of %d groups pruned in %.1f ms\n", pruned,
                        report.layers_size(), report.elapsed_ms());
  return out;
}

}  // namespace pruneserve::pruning
