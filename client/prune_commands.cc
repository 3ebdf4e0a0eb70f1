// `prunectl prune --local`: runs a pruning job on a TorchScript file in this
// process, without a server. The flags are `job submit`'s (client/
// pruning_flags), resolved and run by the same core code a server worker
// uses (jobs::ResolveJobSpec, jobs::RunSpec), so both mean the same thing;
// here the register stage writes --out. Without --epochs it prunes once
// (measuring sparsity on --calib or --train); with --train and --epochs it runs
// the prune -> fine-tune -> evaluate rounds. It prints each round's per-layer
// report and the before/after table.
#include "client/prune_commands.h"

#include <torch/script.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "client/local_commands.h"
#include "client/output_format.h"
#include "client/pruning_flags.h"
#include "core/jobs/job_pipeline.h"
#include "core/jobs/job_spec.h"
#include "core/jobs/spec_runner.h"
#include "core/pipeline/pipeline_report.h"
#include "core/pruning/pruning_report.h"
#include "core/util/status_macros.h"

namespace pruneserve::client {
namespace {

struct PruneArgs {
  bool local = false;
  std::string model;
  std::string out;
  PruningFlags pruning;
  int threads = 0;
  int loader_threads = 2;
  std::string checkpoint_dir;
  bool quiet = false;
};

// Prints one line per second at most while the rounds run.
ProgressCallback ProgressPrinter() {
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  return [last](const Progress& p) {
    if (p.phase != Phase::kPrune && p.phase != Phase::kFinetune &&
        p.phase != Phase::kEvaluate) {
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    const bool phase_end = p.steps_per_epoch > 0 && p.step == p.steps_per_epoch;
    if (!phase_end && now - *last < std::chrono::seconds(1)) return;
    *last = now;
    std::fprintf(stderr,
                 "[round %d/%d] %-8s epoch %lld/%lld step %lld/%lld "
                 "loss %.4f acc %.2f%% %.0f img/s eta %.0fs\n",
                 p.round + 1, p.num_rounds, PhaseName(p.phase),
                 static_cast<long long>(p.epoch + 1),
                 static_cast<long long>(p.num_epochs),
                 static_cast<long long>(p.step),
                 static_cast<long long>(p.steps_per_epoch), p.loss,
                 p.accuracy * 100.0, p.images_per_second, p.eta_seconds);
  };
}

// The job spec the flags describe, with the job defaults filled in and
// checked as a server would check them.
absl::StatusOr<v1::JobSpec> ResolveLocalSpec(const PruneArgs& a) {
  v1::JobSpec spec;
  spec.set_model_name("local");
  PS_RETURN_IF_ERROR(ApplyPruningFlags(a.pruning, spec));
  v1::ModelVersion file;
  file.set_name("local");
  file.set_version(1);
  file.set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
  return jobs::ResolveJobSpec(std::move(spec), file);
}

absl::Status RunLocal(const PruneArgs& a, bool json) {
  PS_ASSIGN_OR_RETURN(const v1::JobSpec spec, ResolveLocalSpec(a));
  PS_ASSIGN_OR_RETURN(
      const torch::jit::Module model,
      jobs::LoadScriptModule(a.model, absl::StrCat("loading ", a.model)));
  jobs::JobDataOptions data_options;
  data_options.loader_threads = a.loader_threads;
  PS_ASSIGN_OR_RETURN(const jobs::JobDataSources data,
                      jobs::OpenJobData(spec, data_options));
  jobs::SpecRunHooks hooks;
  if (!a.quiet) hooks.progress = ProgressPrinter();
  hooks.intra_op_threads = a.threads;
  hooks.checkpoint_dir = a.checkpoint_dir;
  hooks.register_model =
      [&a](const torch::jit::Module& module,
           const v1::PipelineReport&) -> absl::StatusOr<jobs::RegisteredModel> {
    PS_RETURN_IF_ERROR(jobs::SaveScriptModule(module, a.out));
    return jobs::RegisteredModel{a.out, 0};
  };
  PS_ASSIGN_OR_RETURN(const jobs::JobOutcome result,
                      jobs::RunSpec(spec, model, data, hooks));
  if (json) {
    std::printf("%s\n", ToJson(result.report).c_str());
    return absl::OkStatus();
  }
  for (const v1::PipelineRound& round : result.report.rounds()) {
    std::printf("round %d:\n%s", round.round(),
                pruning::RenderPruningReport(round.pruning()).c_str());
  }
  std::printf("%s", pipeline::RenderPipelineReport(result.report).c_str());
  std::printf("wrote %s\n", a.out.c_str());
  return absl::OkStatus();
}

}  // namespace

void RegisterPruneCommands(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand("prune", kPruneCommandHelp);
  auto a = std::make_shared<PruneArgs>();
  cmd->add_flag("--local", a->local,
                "Run the engine in this process (no server)")
      ->required();
  cmd->add_option("model", a->model, "TorchScript archive to prune")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("-o,--out", a->out, "Output TorchScript file")->required();
  AddPruningFlags(cmd, a->pruning, "on this machine");
  cmd->get_option("--input-shape")->required();
  cmd->add_option("--threads", a->threads,
                  "LibTorch intra-op threads (0 = leave as is)")
      ->capture_default_str();
  cmd->add_option("--loader-threads", a->loader_threads,
                  "Background decoding threads per data loader")
      ->capture_default_str();
  cmd->add_option("--checkpoint-dir", a->checkpoint_dir,
                  "Per-epoch fine-tuning checkpoints; a rerun with the same "
                  "directory resumes");
  cmd->add_flag("-q,--quiet", a->quiet, "No progress lines on stderr");
  cmd->callback([&ctx, a] { ctx.Check(RunLocal(*a, ctx.json)); });
}

}  // namespace pruneserve::client
