#include "core/jobs/job_progress.h"

#include <utility>

namespace pruneserve::jobs {
namespace {

constexpr std::pair<Phase, v1::JobPhase> kPhases[] = {
    {Phase::kQueued, v1::JOB_PHASE_QUEUED},
    {Phase::kStart, v1::JOB_PHASE_START},
    {Phase::kPrune, v1::JOB_PHASE_PRUNE},
    {Phase::kFinetune, v1::JOB_PHASE_FINETUNE},
    {Phase::kEvaluate, v1::JOB_PHASE_EVALUATE},
    {Phase::kQuantize, v1::JOB_PHASE_QUANTIZE},
    {Phase::kRegister, v1::JOB_PHASE_REGISTER},
    {Phase::kExport, v1::JOB_PHASE_EXPORT},
    {Phase::kCompile, v1::JOB_PHASE_COMPILE},
    {Phase::kDone, v1::JOB_PHASE_DONE},
};

}  // namespace

v1::JobPhase ToJobPhase(Phase phase) {
  for (const auto& [core, wire] : kPhases) {
    if (core == phase) return wire;
  }
  return v1::JOB_PHASE_UNSPECIFIED;
}

void SetJobPhase(Phase phase, v1::JobProgress& progress) {
  progress.set_phase_kind(ToJobPhase(phase));
  progress.set_phase(PhaseName(phase));
}

v1::JobProgress ToJobProgress(const Progress& p) {
  v1::JobProgress out;
  SetJobPhase(p.phase, out);
  out.set_round(p.round);
  out.set_num_rounds(p.num_rounds);
  out.set_epoch(p.epoch);
  out.set_num_epochs(p.num_epochs);
  out.set_step(p.step);
  out.set_steps_per_epoch(p.steps_per_epoch);
  out.set_loss(p.loss);
  out.set_accuracy(p.accuracy);
  out.set_params(p.params);
  out.set_flops(p.flops);
  out.set_images_per_second(p.images_per_second);
  out.set_eta_seconds(p.eta_seconds);
  out.set_fraction_done(p.fraction_done);
  out.set_last_top1_accuracy(p.last_top1_accuracy);
  return out;
}

}  // namespace pruneserve::jobs
