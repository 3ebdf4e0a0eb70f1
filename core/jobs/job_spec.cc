#include "core/jobs/job_spec.h"

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/data/dataset_spec_parser.h"
#include "core/pruning/pruning_options.h"
#include "core/quantization/fix_point.h"
#include "core/repository/model_name.h"
#include "core/spec/job_spec_defaults.h"
#include "core/util/limit_status.h"
#include "core/util/status_macros.h"

namespace pruneserve::jobs {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

// INVALID_ARGUMENT for `field` over the limit whose flag is --`limit`.
absl::Status OverLimit(absl::string_view field, absl::string_view limit,
                       absl::string_view problem) {
  return LimitExceededError(
      absl::StatusCode::kInvalidArgument, limit,
      absl::StrCat(field, ": ", problem, " (--", limit, ")"));
}

// Top-level Python modules a model factory has no business importing: the
// export script imports the module and calls the function, so these would
// run processes, touch files or the network, or reach the interpreter.
constexpr absl::string_view kDeniedPythonModules[] = {
    "asyncio",    "bdb",       "builtins",   "code",      "codeop",
    "ctypes",     "distutils", "fcntl",      "fileinput", "ftplib",
    "gc",         "glob",      "http",       "imp",       "importlib",
    "inspect",    "io",        "marshal",    "mmap",      "multiprocessing",
    "nt",         "os",        "pathlib",    "pdb",       "pickle",
    "pip",        "pkgutil",   "platform",   "posix",     "pty",
    "resource",   "runpy",     "setuptools", "shelve",    "shutil",
    "signal",     "site",      "smtplib",    "socket",    "ssl",
    "subprocess", "sys",       "sysconfig",  "tarfile",   "telnetlib",
    "tempfile",   "threading", "timeit",     "trace",     "urllib",
    "webbrowser", "zipfile",   "zipimport"};

bool IsPythonIdentifier(absl::string_view s) {
  if (s.empty() || absl::ascii_isdigit(static_cast<unsigned char>(s[0]))) {
    return false;
  }
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') {
      return false;
    }
  }
  return true;
}

// "package.module:function": dotted identifiers, none private (no leading
// underscore, so no dunders either), at most 256 bytes, and not a module of
// kDeniedPythonModules. The string reaches the export manifest and then
// Python's importlib, so anything else is refused here.
absl::Status CheckPythonFactory(absl::string_view factory) {
  if (factory.empty()) return absl::OkStatus();
  constexpr size_t kMaxBytes = 256;
  if (factory.size() > kMaxBytes) {
    return Invalid("vitis_export.python_factory",
                   absl::StrCat(factory.size(), " bytes; at most ", kMaxBytes));
  }
  const std::vector<absl::string_view> halves = absl::StrSplit(factory, ':');
  const std::string quoted = absl::StrCat("\"", absl::CEscape(factory), "\"");
  if (halves.size() != 2) {
    return Invalid("vitis_export.python_factory",
                   absl::StrCat(quoted, " is not package.module:function"));
  }
  std::vector<absl::string_view> parts = absl::StrSplit(halves[0], '.');
  parts.push_back(halves[1]);
  for (absl::string_view part : parts) {
    if (!IsPythonIdentifier(part) || part[0] == '_') {
      return Invalid(
          "vitis_export.python_factory",
          absl::StrCat(quoted,
                       " is not package.module:function of public Python "
                       "identifiers ([A-Za-z][A-Za-z0-9_]*)"));
    }
  }
  for (absl::string_view denied : kDeniedPythonModules) {
    if (parts[0] == denied) {
      return Invalid(
          "vitis_export.python_factory",
          absl::StrCat(quoted, ": module ", denied, " is not a model factory"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckExclude(const v1::JobPruning& p,
                          const JobSpecLimits& limits) {
  if (p.exclude_size() > limits.max_exclude_patterns) {
    return OverLimit("pruning.exclude", "job_max_exclude_patterns",
                     absl::StrCat(p.exclude_size(), " patterns; the limit is ",
                                  limits.max_exclude_patterns));
  }
  for (const std::string& pattern : p.exclude()) {
    if (static_cast<int64_t>(pattern.size()) >
        limits.max_exclude_pattern_bytes) {
      return OverLimit(
          "pruning.exclude", "job_max_exclude_pattern_bytes",
          absl::StrCat("a pattern of ", pattern.size(), " bytes; the limit is ",
                       limits.max_exclude_pattern_bytes));
    }
    // RE2 runs in time linear in the input and bounded memory: no
    // catastrophic backtracking, no stack overflow on the submitting thread.
    if (absl::Status s = pruning::ValidateExcludePattern(pattern); !s.ok()) {
      return Invalid("pruning.exclude", s.message());
    }
  }
  return absl::OkStatus();
}

// A fraction in [0, 1) (`max_inclusive` widens to [0, 1]).
absl::Status CheckFraction(absl::string_view field, double v,
                           bool max_inclusive = false) {
  if (v < 0.0 || v > 1.0 || (!max_inclusive && v == 1.0)) {
    return Invalid(
        field, absl::StrCat(v, " is outside [0, 1", max_inclusive ? "]" : ")"));
  }
  return absl::OkStatus();
}

// A data-set spec that parses and whose directory exists, or what
// `resolver` makes of it; the field is replaced by the result.
absl::Status ResolveDataset(absl::string_view field, std::string* spec,
                            const DataSpecResolver& resolver) {
  if (resolver) {
    auto resolved = resolver(*spec);
    if (!resolved.ok()) {
      return absl::Status(
          resolved.status().code(),
          absl::StrCat(field, ": ", resolved.status().message()));
    }
    *spec = *std::move(resolved);
    return absl::OkStatus();
  }
  auto parsed = data::ParseDatasetSpec(*spec);
  if (!parsed.ok()) return Invalid(field, parsed.status().message());
  std::error_code ec;
  if (!std::filesystem::is_directory(parsed->dir, ec)) {
    return Invalid(field,
                   absl::StrCat("directory ", parsed->dir, " does not exist"));
  }
  return absl::OkStatus();
}

absl::Status ResolveData(v1::JobSpec& spec, bool needs_calibration,
                         const DataSpecResolver& resolver) {
  v1::JobData& d = *spec.mutable_data();
  const bool finetunes = spec.finetune().epochs() > 0;
  if (finetunes && d.train().empty()) {
    return Invalid("data.train", "required when finetune.epochs > 0");
  }
  if (needs_calibration && d.train().empty() && d.calibration().empty()) {
    return Invalid(
        "data.calibration",
        absl::StrCat("policy \"", spec.pruning().policy(),
                     "\" with criterion \"", spec.pruning().criterion(),
                     "\" measures activations: give calibration "
                     "or train data"));
  }
  if (!d.train().empty()) {
    PS_RETURN_IF_ERROR(
        ResolveDataset("data.train", d.mutable_train(), resolver));
  }
  if (!d.eval().empty()) {
    PS_RETURN_IF_ERROR(ResolveDataset("data.eval", d.mutable_eval(), resolver));
  }
  if (!d.calibration().empty()) {
    PS_RETURN_IF_ERROR(
        ResolveDataset("data.calibration", d.mutable_calibration(), resolver));
  }
  if (d.train_limit() < 0) return Invalid("data.train_limit", "negative");
  if (d.eval_limit() < 0) return Invalid("data.eval_limit", "negative");
  if (d.calibration_images() < 0) {
    return Invalid("data.calibration_images", "negative");
  }
  if (d.calibration_images() == 0) {
    d.set_calibration_images(
        spec::JobSpecDefaults().data().calibration_images());
  }
  return absl::OkStatus();
}

absl::Status ResolvePruning(v1::JobPruning& p) {
  const v1::JobPruning& defaults = spec::JobSpecDefaults().pruning();
  PS_ASSIGN_OR_RETURN(const pruning::PolicyKind policy,
                      spec::ResolvePolicyKind(p));
  p.set_policy_kind(spec::PolicyWire(policy));
  p.set_policy(pruning::PolicyKindName(policy));
  PS_ASSIGN_OR_RETURN(const pruning::CriterionKind criterion,
                      spec::ResolveCriterionKind(p));
  p.set_criterion_kind(spec::CriterionWire(criterion));
  p.set_criterion(pruning::CriterionKindName(criterion));
  if (p.ratio() == 0.0) p.set_ratio(defaults.ratio());
  if (auto s = CheckFraction("pruning.ratio", p.ratio()); !s.ok()) return s;
  if (p.threshold() < 0.0) return Invalid("pruning.threshold", "negative");
  // A budgeted job with a weights or latency target and no MAC target has
  // only those; otherwise an unset MAC target takes the default.
  const bool other_target =
      (p.target_params_reduction() > 0.0 ||
       p.target_latency_reduction() > 0.0) &&
      spec::PolicyKindOf(p) == pruning::PolicyKind::kBudgeted;
  if (p.target_flops_reduction() == 0.0 && !other_target) {
    p.set_target_flops_reduction(defaults.target_flops_reduction());
  }
  if (auto s = CheckFraction("pruning.target_flops_reduction",
                             p.target_flops_reduction());
      !s.ok()) {
    return s;
  }
  if (auto s = CheckFraction("pruning.target_params_reduction",
                             p.target_params_reduction());
      !s.ok()) {
    return s;
  }
  if (p.target_params_reduction() > 0.0 &&
      spec::PolicyKindOf(p) != pruning::PolicyKind::kBudgeted) {
    return Invalid("pruning.target_params_reduction",
                   "only the budgeted policy takes a weights target");
  }
  if (auto s = CheckFraction("pruning.target_latency_reduction",
                             p.target_latency_reduction());
      !s.ok()) {
    return s;
  }
  if (p.target_latency_reduction() > 0.0 &&
      spec::PolicyKindOf(p) != pruning::PolicyKind::kBudgeted) {
    return Invalid("pruning.target_latency_reduction",
                   "only the budgeted policy takes a latency target");
  }
  if (p.round_to() == 0) p.set_round_to(defaults.round_to());
  if (p.round_to() < 1) return Invalid("pruning.round_to", "must be >= 1");
  if (p.min_channels() == 0) p.set_min_channels(defaults.min_channels());
  if (p.min_channels() < 1) {
    return Invalid("pruning.min_channels", "must be >= 1");
  }
  // 0 stays: the refined rule's own default (see refined_rule).
  if (p.min_sparsity() < 0.0) p.set_min_sparsity(-1.0);
  if (p.refined_rule().empty()) p.set_refined_rule(defaults.refined_rule());
  if (!pruning::ParseRefinedRule(p.refined_rule()).ok()) {
    return Invalid(
        "pruning.refined_rule",
        "must be auto, plain or residual, got '" + p.refined_rule() + "'");
  }
  if (p.min_sparsity() > 1.0) {
    return Invalid("pruning.min_sparsity", "must be <= 1");
  }
  return absl::OkStatus();
}

// Every distillation check, and the weights filled in only when
// distillation is on, so a resolved spec resolves to itself.
absl::Status ResolveDistillation(v1::JobFinetune& f) {
  if (!f.distill()) {
    if (f.distill_alpha() != 0.0) {
      return Invalid("finetune.distill_alpha", "needs finetune.distill");
    }
    if (f.distill_temperature() != 0.0) {
      return Invalid("finetune.distill_temperature", "needs finetune.distill");
    }
    return absl::OkStatus();
  }
  if (f.epochs() == 0) {
    return Invalid("finetune.distill", "needs finetune.epochs > 0");
  }
  const v1::JobFinetune& defaults = spec::JobSpecDefaults().finetune();
  if (f.distill_alpha() == 0.0) f.set_distill_alpha(defaults.distill_alpha());
  if (!(f.distill_alpha() > 0.0 && f.distill_alpha() <= 1.0)) {
    return Invalid("finetune.distill_alpha",
                   absl::StrCat(f.distill_alpha(), " is outside (0, 1]"));
  }
  if (f.distill_temperature() == 0.0) {
    f.set_distill_temperature(defaults.distill_temperature());
  }
  if (!(f.distill_temperature() > 0.0 && f.distill_temperature() <= 100.0)) {
    return Invalid(
        "finetune.distill_temperature",
        absl::StrCat(f.distill_temperature(), " is outside (0, 100]"));
  }
  return absl::OkStatus();
}

absl::Status ResolveFinetune(v1::JobFinetune& f) {
  const v1::JobFinetune& defaults = spec::JobSpecDefaults().finetune();
  if (f.epochs() < 0 || f.epochs() > 10000) {
    return Invalid("finetune.epochs",
                   absl::StrCat(f.epochs(), " is outside 0..10000"));
  }
  if (f.learning_rate() == 0.0) f.set_learning_rate(defaults.learning_rate());
  if (f.learning_rate() < 0.0) {
    return Invalid("finetune.learning_rate", "must be > 0");
  }
  if (f.momentum() == 0.0) f.set_momentum(defaults.momentum());
  if (auto s = CheckFraction("finetune.momentum", f.momentum()); !s.ok()) {
    return s;
  }
  if (f.weight_decay() == 0.0) f.set_weight_decay(defaults.weight_decay());
  if (f.weight_decay() < 0.0) {
    return Invalid("finetune.weight_decay", "negative");
  }
  if (f.batch_size() == 0) f.set_batch_size(defaults.batch_size());
  if (f.batch_size() < 1 || f.batch_size() > 4096) {
    return Invalid("finetune.batch_size",
                   absl::StrCat(f.batch_size(), " is outside 1..4096"));
  }
  if (auto s = CheckFraction("finetune.label_smoothing", f.label_smoothing());
      !s.ok()) {
    return s;
  }
  return ResolveDistillation(f);
}

absl::Status ResolveStages(v1::JobSpec& spec) {
  const v1::JobSpec& defaults = spec::JobSpecDefaults();
  v1::JobQuantize& q = *spec.mutable_quantize();
  if (q.enabled()) {
    if (q.method().empty()) q.set_method(defaults.quantize().method());
    if (auto m = quantization::ParseCalibrationMethod(q.method()); !m.ok()) {
      return Invalid("quantize.method", m.status().message());
    }
    if (q.percentile() == 0.0)
      q.set_percentile(defaults.quantize().percentile());
    if (q.percentile() <= 0.0 || q.percentile() > 100.0) {
      return Invalid("quantize.percentile",
                     absl::StrCat(q.percentile(), " is outside (0, 100]"));
    }
    if (q.calibration_images() == 0) {
      q.set_calibration_images(defaults.quantize().calibration_images());
    }
    if (q.calibration_images() < 0) {
      return Invalid("quantize.calibration_images", "negative");
    }
  }
  v1::JobExport& e = *spec.mutable_vitis_export();
  if (e.compile()) e.set_enabled(true);
  if (e.enabled()) {
    if (e.calibration_images() == 0) {
      e.set_calibration_images(defaults.vitis_export().calibration_images());
    }
    if (e.calibration_images() < 0) {
      return Invalid("vitis_export.calibration_images", "negative");
    }
    if (e.xmodel_name().empty()) {
      e.set_xmodel_name(absl::StrCat(spec.output_name(), "_dpu"));
    }
    if (auto s = ValidateModelName(e.xmodel_name()); !s.ok()) {
      return Invalid("vitis_export.xmodel_name", s.message());
    }
  }
  if (auto s = CheckPythonFactory(e.python_factory()); !s.ok()) return s;
  const bool needs_images = q.enabled() || e.enabled();
  if (needs_images && spec.data().train().empty() &&
      spec.data().calibration().empty()) {
    return Invalid(q.enabled() ? "quantize" : "vitis_export",
                   "needs calibration or train data");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::JobSpec> ResolveJobSpec(
    v1::JobSpec spec, const v1::ModelVersion& model,
    const JobSpecLimits& limits, const DataSpecResolver& data_resolver) {
  // Sizes first: nothing below should look at an oversized field.
  if (static_cast<int64_t>(spec.description().size()) >
      limits.max_description_bytes) {
    return OverLimit(
        "description", "job_max_description_bytes",
        absl::StrCat(spec.description().size(), " bytes; the limit is ",
                     limits.max_description_bytes));
  }
  if (auto s = CheckExclude(spec.pruning(), limits); !s.ok()) return s;
  if (model.format() != v1::MODEL_FORMAT_TORCHSCRIPT) {
    return Invalid("model_name",
                   absl::StrCat(model.name(), ":", model.version(),
                                " is not a TorchScript model; jobs prune "
                                "TorchScript models"));
  }
  spec.set_model_version(model.version());
  if (spec.input_shape().empty()) {
    *spec.mutable_input_shape() = model.example_input_shape();
  }
  if (spec.input_shape().empty()) {
    return Invalid("input_shape",
                   "required: the model has no example input shape");
  }
  const std::string shape =
      absl::StrCat("[", absl::StrJoin(spec.input_shape(), ","), "]");
  if (spec.input_shape_size() != 4) {
    return Invalid("input_shape",
                   absl::StrCat(shape, " must have 4 dims (NCHW)"));
  }
  for (int64_t d : spec.input_shape()) {
    if (d <= 0) {
      return Invalid("input_shape", absl::StrCat(shape, " has a dim below 1"));
    }
    if (d > limits.max_input_dim) {
      return OverLimit(
          "input_shape", "job_max_input_dim",
          absl::StrCat(shape, " has a dim above ", limits.max_input_dim));
    }
  }
  spec.set_input_shape(0, 1);
  // Dims are <= max_input_dim, so C * H * W cannot overflow int64 before
  // the comparison for any sane limit; divide to be safe regardless.
  int64_t elements = 1;
  for (int i = 1; i < spec.input_shape_size(); ++i) {
    const int64_t d = spec.input_shape(i);
    if (elements > limits.max_input_elements / d) {
      elements = limits.max_input_elements + 1;
      break;
    }
    elements *= d;
  }
  if (elements > limits.max_input_elements) {
    return OverLimit(
        "input_shape", "job_max_input_elements",
        absl::StrCat(shape, " has more than ", limits.max_input_elements,
                     " elements per image (C*H*W)"));
  }
  if (auto s = ResolvePruning(*spec.mutable_pruning()); !s.ok()) return s;
  if (auto s = ResolveFinetune(*spec.mutable_finetune()); !s.ok()) return s;
  const bool needs_calibration =
      pruning::NeedsCalibration(spec::PolicyKindOf(spec.pruning()),
                                spec::CriterionKindOf(spec.pruning()));
  if (auto s = ResolveData(spec, needs_calibration, data_resolver); !s.ok()) {
    return s;
  }
  if (spec.steps() < 0 || spec.steps() > 100) {
    return Invalid("steps", absl::StrCat(spec.steps(), " is outside 0..100"));
  }
  if (spec.steps() > 0) {
    if (!pruning::PolicyHasTarget(spec::PolicyKindOf(spec.pruning()))) {
      return Invalid("steps", absl::StrCat("needs a policy with a target, not ",
                                           spec.pruning().policy()));
    }
    if (spec.rounds() != 0 && spec.rounds() != spec.steps()) {
      return Invalid("steps", "sets the rounds; give one or the other");
    }
    spec.set_rounds(spec.steps());
  }
  if (spec.rounds() == 0) spec.set_rounds(spec::JobSpecDefaults().rounds());
  if (spec.rounds() < 1 || spec.rounds() > 100) {
    return Invalid("rounds", absl::StrCat(spec.rounds(), " is outside 1..100"));
  }
  if (spec.pruning().target_latency_reduction() > 0.0 && spec.rounds() != 1) {
    return Invalid(
        "pruning.target_latency_reduction",
        absl::StrCat("is met in one round; the job asks for ", spec.rounds()));
  }
  if (auto s = CheckFraction("target_params_reduction",
                             spec.target_params_reduction());
      !s.ok()) {
    return s;
  }
  if (auto s = CheckFraction("target_flops_reduction",
                             spec.target_flops_reduction());
      !s.ok()) {
    return s;
  }
  if (auto s = CheckFraction("max_top1_drop", spec.max_top1_drop(), true);
      !s.ok()) {
    return s;
  }
  if (spec.max_top1_drop() > 0.0 && spec.data().eval().empty()) {
    return Invalid("max_top1_drop", "needs data.eval to measure accuracy");
  }
  if (spec.output_name().empty()) spec.set_output_name(spec.model_name());
  if (auto s = ValidateModelName(spec.output_name()); !s.ok()) {
    return Invalid("output_name", s.message());
  }
  if (auto s = ResolveStages(spec); !s.ok()) return s;
  return spec;
}

}  // namespace pruneserve::jobs
