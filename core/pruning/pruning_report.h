// Human-readable rendering of a pruneserve.v1.PruningReport: one row per
// channel group (channels before/after, measured sparsity, applied ratio,
// importance threshold, skip reason) and the parameter/MAC totals.
#ifndef PRUNESERVE_CORE_PRUNING_PRUNING_REPORT_H_
#define PRUNESERVE_CORE_PRUNING_PRUNING_REPORT_H_

#include <string>

#include "pruneserve/v1/pruning.pb.h"

namespace pruneserve::pruning {

// Options for RenderPruningReport.
struct ReportRenderOptions {
  // Also list groups that were left alone (frozen, excluded, skipped).
  bool include_skipped = true;
  // Truncate layer names longer than this (keeps the table aligned).
  int max_name_width = 40;
};

// Returns a fixed-width text table ending in a newline. Never fails.
std::string RenderPruningReport(const v1::PruningReport& report,
                                const ReportRenderOptions& options = {});

}  // namespace pruneserve::pruning

#endif  // PRUNESERVE_CORE_PRUNING_PRUNING_REPORT_H_
