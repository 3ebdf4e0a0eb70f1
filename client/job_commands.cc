// `prunectl job ...`. `submit` turns flags into a pruneserve.v1.JobSpec
// (unset flags stay zero so the server applies its documented defaults);
// `watch` draws a live progress line and ends with the before/after table
// of the job's report.
#include "client/job_commands.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "client/dataset_commands.h"
#include "client/job_client.h"
#include "client/model_ref.h"
#include "client/output_format.h"
#include "client/pruning_flags.h"
#include "client/repository_client.h"
#include "core/spec/job_state.h"
#include "core/pipeline/pipeline_report.h"

namespace pruneserve::client {
namespace {

// `job submit`'s flags: the shared pruning flags plus what only a server
// job has (the stored model, the result's name, the INT8/export stages).
struct SubmitArgs {
  std::string model;
  PruningFlags pruning;
  std::string output_name;
  std::string description;
  bool watch = false;
  bool quantize = false;
  std::string quant_method;
  bool vitis_export = false;
  bool compile = false;
  std::string python_factory;
};

absl::StatusOr<v1::JobSpec> SpecFromArgs(const SubmitArgs& a) {
  v1::JobSpec spec;
  auto ref = ParseModelRef(a.model);
  if (!ref.ok()) return ref.status();
  spec.set_model_name(ref->name);
  spec.set_model_version(ref->version);
  if (auto s = ApplyPruningFlags(a.pruning, spec); !s.ok()) return s;
  spec.set_output_name(a.output_name);
  spec.set_description(a.description);
  spec.mutable_quantize()->set_enabled(a.quantize);
  spec.mutable_quantize()->set_method(a.quant_method);
  spec.mutable_vitis_export()->set_enabled(a.vitis_export);
  spec.mutable_vitis_export()->set_compile(a.compile);
  spec.mutable_vitis_export()->set_python_factory(a.python_factory);
  return spec;
}

absl::StatusOr<v1::JobState> ParseState(const std::string& text) {
  if (text.empty()) return v1::JOB_STATE_UNSPECIFIED;
  v1::JobState state;
  if (!v1::JobState_Parse(
          absl::StrCat("JOB_STATE_", absl::AsciiStrToUpper(text)), &state)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown state \"", text,
                     "\" (queued, running, succeeded, failed, cancelled)"));
  }
  return state;
}

// "42% round 1/2 finetune epoch 3/5 step 120/300 loss 0.41 acc 85.2% ...".
std::string ProgressLine(const v1::Job& job) {
  const v1::JobProgress& p = job.progress();
  std::string line = absl::StrFormat(
      "%s %3.0f%%", spec::JobStateName(job.state()), 100.0 * p.fraction_done());
  if (job.state() != v1::JOB_STATE_RUNNING) return line;
  if (p.round() >= 0 && p.num_rounds() > 0) {
    absl::StrAppend(
        &line, absl::StrFormat(" round %d/%d", p.round() + 1, p.num_rounds()));
  } else {
    absl::StrAppend(&line, " baseline");
  }
  absl::StrAppend(&line, " ", p.phase());
  if (p.phase() == "finetune") {
    absl::StrAppend(
        &line, absl::StrFormat(" epoch %d/%d", p.epoch() + 1, p.num_epochs()));
  }
  if (p.steps_per_epoch() > 0) {
    absl::StrAppend(
        &line, absl::StrFormat(" step %d/%d", p.step(), p.steps_per_epoch()));
  }
  if (p.phase() == "finetune" || p.phase() == "evaluate") {
    absl::StrAppend(
        &line, absl::StrFormat(" loss %.3f acc %.1f%% %.0f img/s", p.loss(),
                               100.0 * p.accuracy(), p.images_per_second()));
  }
  if (p.params() > 0) {
    absl::StrAppend(&line, " params ", HumanCount(p.params()), " MACs ",
                    HumanCount(p.flops()));
  }
  if (p.eta_seconds() > 0) {
    absl::StrAppend(&line, absl::StrFormat(" eta %.0fs", p.eta_seconds()));
  }
  return line;
}

// Prints the end of a job: the report table and where the result went, or
// the error. Returns false when the job did not succeed.
bool PrintOutcome(const v1::Job& job, bool json) {
  if (json) {
    std::printf("%s\n", ToJson(job).c_str());
  } else if (job.state() == v1::JOB_STATE_SUCCEEDED) {
    std::printf("%s", pipeline::RenderPipelineReport(job.report()).c_str());
    std::printf("job %s succeeded: registered %s:%lld\n", job.id().c_str(),
                job.result_model_name().c_str(),
                static_cast<long long>(job.result_model_version()));
    if (!job.export_dir().empty()) {
      std::printf("Vitis AI export: %s (on the server)\n",
                  job.export_dir().c_str());
    }
    if (!job.xmodel_name().empty()) {
      std::printf("xmodel: registered %s:%lld\n", job.xmodel_name().c_str(),
                  static_cast<long long>(job.xmodel_version()));
    } else if (!job.compile_error_message().empty()) {
      std::printf("xmodel: not built: %s: %s\n",
                  absl::StatusCodeToString(
                      static_cast<absl::StatusCode>(job.compile_error_code()))
                      .c_str(),
                  job.compile_error_message().c_str());
    }
  } else {
    std::printf("job %s %s%s%s\n", job.id().c_str(),
                spec::JobStateName(job.state()).c_str(),
                job.error_message().empty() ? "" : ": ",
                job.error_message().c_str());
  }
  return job.state() == v1::JOB_STATE_SUCCEEDED;
}

// Follows a job to its end, drawing progress on stderr (one rewritten line
// on a terminal, a line every few seconds otherwise).
absl::StatusOr<v1::Job> Follow(JobClient& client, const std::string& id,
                               bool quiet) {
  const bool tty = ::isatty(::fileno(stderr)) != 0;
  auto last_print = std::chrono::steady_clock::time_point{};
  v1::JobState last_state = v1::JOB_STATE_UNSPECIFIED;
  auto result = client.Watch(id, [&](const v1::Job& job) {
    if (quiet) return true;
    const auto now = std::chrono::steady_clock::now();
    const bool state_changed = job.state() != last_state;
    last_state = job.state();
    if (tty) {
      std::fprintf(stderr, "\r\033[K%s", ProgressLine(job).c_str());
    } else if (state_changed || now - last_print > std::chrono::seconds(5)) {
      last_print = now;
      std::fprintf(stderr, "%s\n", ProgressLine(job).c_str());
    }
    return true;
  });
  if (tty && !quiet) std::fprintf(stderr, "\n");
  return result;
}

void AddSubmitFlags(CLI::App* cmd, SubmitArgs& a) {
  cmd->add_option("model", a.model, "Model to prune, NAME or NAME:VERSION")
      ->required();
  AddPruningFlags(cmd, a.pruning, "on the server");
  cmd->get_option("--input-shape")
      ->description(
          "Input NCHW, e.g. 1,1,28,28 (default: the model's example input "
          "shape)");
  cmd->add_option("--output-name", a.output_name,
                  "Repository name of the result (default: the model's)");
  cmd->add_option("--description", a.description, "Stored with the result");
  cmd->add_flag("--quantize", a.quantize,
                "Add the INT8 (DPU simulation) stage: float vs INT8 accuracy "
                "of the dense and the pruned model");
  cmd->add_option("--quant-method", a.quant_method,
                  "max (default) | percentile | mse");
  cmd->add_flag("--export", a.vitis_export,
                "Write the Vitis AI export directory on the server");
  cmd->add_flag("--compile", a.compile,
                "Export, run the server's Vitis AI compile command and "
                "register the .xmodel");
  cmd->add_option("--python-factory", a.python_factory,
                  "package.module:function building the dense nn.Module "
                  "(for the Vitis quantizer)");
  cmd->add_flag("-w,--watch", a.watch, "Follow the job until it ends");
}

}  // namespace

void RegisterJobCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* job = app.add_subcommand("job", "Pruning jobs on the server.");
  job->require_subcommand(1);

  auto submit_args = std::make_shared<SubmitArgs>();
  auto quiet = std::make_shared<bool>(false);
  auto* submit = job->add_subcommand(
      "submit", "Queue a prune -> fine-tune job for a stored model.");
  AddSubmitFlags(submit, *submit_args);
  submit->add_flag("-q,--quiet", *quiet, "No progress line while watching");
  submit->callback([&ctx, submit_args, quiet] {
    auto spec = SpecFromArgs(*submit_args);
    if (!ctx.Check(spec.status())) return;
    // Local directories among the data flags are uploaded first.
    std::map<std::string, v1::Dataset> uploaded;
    v1::JobData* data = spec->mutable_data();
    for (auto [field, default_split] :
         {std::pair{data->mutable_train(), "train"},
          std::pair{data->mutable_eval(), "test"},
          std::pair{data->mutable_calibration(), "train"}}) {
      auto value = UploadIfLocal(ctx, *field, default_split, uploaded);
      if (!ctx.Check(value.status())) return;
      *field = *std::move(value);
    }
    JobClient client(ctx.Channel());
    auto job = client.Submit(*spec);
    if (!ctx.Check(job.status())) return;
    if (!submit_args->watch) {
      if (ctx.json) {
        std::printf("%s\n", ToJson(*job).c_str());
      } else {
        std::printf("%s\n", job->id().c_str());
      }
      return;
    }
    if (!ctx.json) std::printf("submitted %s\n", job->id().c_str());
    auto final = Follow(client, job->id(), *quiet);
    if (!ctx.Check(final.status())) return;
    if (!PrintOutcome(*final, ctx.json)) ctx.exit_code = 1;
  });

  auto id = std::make_shared<std::string>();
  auto* watch = job->add_subcommand(
      "watch", "Follow a job; print its report when it ends.");
  watch->add_option("id", *id, "Job id")->required();
  watch->add_flag("-q,--quiet", *quiet, "No progress line");
  watch->callback([&ctx, id, quiet] {
    JobClient client(ctx.Channel());
    auto final = Follow(client, *id, *quiet);
    if (!ctx.Check(final.status())) return;
    if (!PrintOutcome(*final, ctx.json)) ctx.exit_code = 1;
  });

  auto* get = job->add_subcommand("get", "Show one job.");
  get->add_option("id", *id, "Job id")->required();
  get->callback([&ctx, id] {
    JobClient client(ctx.Channel());
    auto j = client.Get(*id);
    if (!ctx.Check(j.status())) return;
    if (ctx.json) {
      std::printf("%s\n", ToJson(*j).c_str());
      return;
    }
    std::printf("%-12s %s\n%-12s %s:%lld\n%-12s %s\n", "job:", j->id().c_str(),
                "model:", j->spec().model_name().c_str(),
                static_cast<long long>(j->spec().model_version()),
                "state:", ProgressLine(*j).c_str());
    if (!j->submitted_by().empty()) {
      std::printf("%-12s %s\n", "submitted:", j->submitted_by().c_str());
    }
    if (j->state() != v1::JOB_STATE_QUEUED &&
        j->state() != v1::JOB_STATE_RUNNING) {
      PrintOutcome(*j, false);
    }
  });

  auto* cancel =
      job->add_subcommand("cancel", "Cancel a queued or running job.");
  cancel->add_option("id", *id, "Job id")->required();
  cancel->callback([&ctx, id] {
    JobClient client(ctx.Channel());
    auto j = client.Cancel(*id);
    if (!ctx.Check(j.status())) return;
    std::printf("%s: %s\n", j->id().c_str(),
                j->state() == v1::JOB_STATE_RUNNING
                    ? "cancellation requested (stops within one step)"
                    : spec::JobStateName(j->state()).c_str());
  });

  auto state = std::make_shared<std::string>();
  auto limit = std::make_shared<int>(100);
  auto token = std::make_shared<std::string>();
  auto* ls = job->add_subcommand("ls", "List jobs, newest first.");
  ls->add_option("--state", *state,
                 "queued | running | succeeded | failed | cancelled");
  ls->add_option("-n,--limit", *limit, "Jobs per page")->capture_default_str();
  ls->add_option("--page-token", *token, "Token printed by the previous page");
  ls->callback([&ctx, state, limit, token] {
    auto s = ParseState(*state);
    if (!ctx.Check(s.status())) return;
    JobClient client(ctx.Channel());
    auto page = client.List(*s, *limit, *token);
    if (!ctx.Check(page.status())) return;
    if (ctx.json) {
      std::printf("%s\n", ToJson(*page).c_str());
      return;
    }
    TextTable table(
        {"ID", "STATE", "MODEL", "POLICY", "PROGRESS", "RESULT", "CREATED"});
    for (const v1::Job& j : page->jobs()) {
      table.AddRow(
          {j.id(), spec::JobStateName(j.state()),
           absl::StrCat(j.spec().model_name(), ":", j.spec().model_version()),
           j.spec().pruning().policy(),
           absl::StrFormat("%.0f%%", 100.0 * j.progress().fraction_done()),
           j.result_model_name().empty()
               ? "-"
               : absl::StrCat(j.result_model_name(), ":",
                              j.result_model_version()),
           TimeString(j.created_unix_ms())});
    }
    std::printf("%s", table.Render().c_str());
    if (!page->next_page_token().empty()) {
      std::printf("next page: --page-token %s\n",
                  page->next_page_token().c_str());
    }
  });
}

}  // namespace pruneserve::client
