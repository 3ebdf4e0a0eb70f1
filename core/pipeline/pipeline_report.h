// Human-readable rendering of a pruneserve.v1.PipelineReport: the
// before/after table prunectl and the benchmarks print (params, FLOPs, top-1
// and top-5 at the baseline, after every round's pruning and fine-tuning, and
// at the end) plus the reductions, the accuracy drop and the stop reason.
#ifndef PRUNESERVE_CORE_PIPELINE_PIPELINE_REPORT_H_
#define PRUNESERVE_CORE_PIPELINE_PIPELINE_REPORT_H_

#include <string>

#include "pruneserve/v1/pipeline.pb.h"

namespace pruneserve::pipeline {

// "rounds completed", "target FLOPs reached", ...
std::string StopReasonText(v1::PipelineReport::StopReason reason);

// Formats a count with a K/M/G suffix ("1.23M"). Never fails.
std::string HumanCount(int64_t value);

// Formats an accuracy fraction as a percentage ("91.20%"), or "-" when it
// is negative (not evaluated). Never fails.
std::string AccuracyText(double fraction);

// Returns a fixed-width text table ending in a newline: one row for the
// baseline, two per round (after prune, after fine-tune) and a summary
// block. Never fails.
std::string RenderPipelineReport(const v1::PipelineReport& report);

}  // namespace pruneserve::pipeline

#endif  // PRUNESERVE_CORE_PIPELINE_PIPELINE_REPORT_H_
