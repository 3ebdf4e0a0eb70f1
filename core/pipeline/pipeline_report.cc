// Text tables for PipelineReport; see pipeline_report.h.
#include "core/pipeline/pipeline_report.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace pruneserve::pipeline {
namespace {

std::string Row(const std::string& stage, const v1::ModelSnapshot& s,
                double ms) {
  return absl::StrFormat(
      "%-26s %10s %10s %9s %9s %10s\n", stage, HumanCount(s.params()),
      HumanCount(s.flops()), AccuracyText(s.top1_accuracy()),
      AccuracyText(s.top5_accuracy()),
      ms >= 0 ? absl::StrFormat("%.1fs", ms / 1000.0) : std::string("-"));
}

}  // namespace

std::string StopReasonText(v1::PipelineReport::StopReason reason) {
  switch (reason) {
    case v1::PipelineReport::ROUNDS_COMPLETED:
      return "rounds completed";
    case v1::PipelineReport::TARGET_PARAMS_REACHED:
      return "target params reduction reached";
    case v1::PipelineReport::TARGET_FLOPS_REACHED:
      return "target FLOPs reduction reached";
    case v1::PipelineReport::ACCURACY_DROP_EXCEEDED:
      return "top-1 drop exceeded the limit";
    case v1::PipelineReport::NOTHING_TO_PRUNE:
      return "nothing left to prune";
    default:
      return "unspecified";
  }
}

std::string HumanCount(int64_t value) {
  const double v = static_cast<double>(value);
  if (value >= 1000000000) return absl::StrFormat("%.2fG", v / 1e9);
  if (value >= 1000000) return absl::StrFormat("%.2fM", v / 1e6);
  if (value >= 1000) return absl::StrFormat("%.1fK", v / 1e3);
  return absl::StrCat(value);
}

std::string AccuracyText(double fraction) {
  if (fraction < 0) return "-";
  return absl::StrFormat("%.2f%%", fraction * 100.0);
}

std::string RenderPipelineReport(const v1::PipelineReport& report) {
  std::string out =
      absl::StrFormat("%-26s %10s %10s %9s %9s %10s\n", "stage", "params",
                      "FLOPs", "top-1", "top-5", "time");
  out += Row("baseline", report.baseline(), -1);
  for (const v1::PipelineRound& r : report.rounds()) {
    out += Row(absl::StrCat("round ", r.round(), " pruned (",
                            r.pruning().policy(), ")"),
               r.after_prune(), r.prune_ms());
    out += Row(absl::StrCat("round ", r.round(), " fine-tuned (",
                            r.finetune_epochs(), " ep)"),
               r.after_finetune(), r.finetune_ms());
  }
  out += Row("final", report.final(), report.elapsed_ms());
  out += absl::StrFormat(
      "params %s -> %s (-%.2f%%), FLOPs %s -> %s (-%.2f%%)\n",
      HumanCount(report.baseline().params()),
      HumanCount(report.final().params()), report.params_reduction() * 100.0,
      HumanCount(report.baseline().flops()), HumanCount(report.final().flops()),
      report.flops_reduction() * 100.0);
  if (report.baseline().top1_accuracy() >= 0) {
    out += absl::StrFormat("top-1 %s -> %s (drop %.2f points)\n",
                           AccuracyText(report.baseline().top1_accuracy()),
                           AccuracyText(report.final().top1_accuracy()),
                           report.top1_drop() * 100.0);
  }
  out += absl::StrCat("fine-tuning: ", report.finetune_schedule(), "\n");
  out += absl::StrCat("stopped: ", StopReasonText(report.stop_reason()), "\n");
  // The quantize stage: float vs INT8 (DPU simulation) side by side.
  auto quant_line = [&out](const char* label, const v1::QuantizationReport& q) {
    if (!q.evaluated()) {
      out += absl::StrFormat(
          "INT8 (%s, %d fix_points) %-6s calibrated, not evaluated\n",
          q.method(), q.tensors_size(), label);
      return;
    }
    out += absl::StrFormat(
        "INT8 (%s, %d fix_points) %-6s top-1 float %s -> int8 %s (drop %.2f "
        "points)\n",
        q.method(), q.tensors_size(), label, AccuracyText(q.float_top1()),
        AccuracyText(q.int8_top1()), q.top1_drop() * 100.0);
  };
  if (report.has_dense_quantization()) {
    quant_line("dense", report.dense_quantization());
  }
  if (report.has_final_quantization()) {
    quant_line("pruned", report.final_quantization());
  }
  return out;
}

}  // namespace pruneserve::pipeline
