// Phase names: one table, read both ways.
#include "core/util/progress.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace pruneserve {
namespace {

constexpr std::pair<Phase, const char*> kPhaseNames[] = {
    {Phase::kQueued, "queued"},     {Phase::kStart, "start"},
    {Phase::kPrune, "prune"},       {Phase::kFinetune, "finetune"},
    {Phase::kEvaluate, "evaluate"}, {Phase::kQuantize, "quantize"},
    {Phase::kRegister, "register"}, {Phase::kExport, "export"},
    {Phase::kCompile, "compile"},   {Phase::kDone, "done"},
};

}  // namespace

const char* PhaseName(Phase phase) {
  for (const auto& [p, name] : kPhaseNames) {
    if (p == phase) return name;
  }
  return "unknown";
}

absl::StatusOr<Phase> ParsePhase(absl::string_view name) {
  for (const auto& [p, n] : kPhaseNames) {
    if (name == n) return p;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown phase '", name, "'"));
}

}  // namespace pruneserve
