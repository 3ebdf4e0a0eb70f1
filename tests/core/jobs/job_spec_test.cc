#include "core/jobs/job_spec.h"

#include <gmock/gmock.h>

#include "core/export/vitis_export.h"
#include "core/jobs/job_pipeline.h"
#include "core/pipeline/pipeline_options.h"
#include "core/quantization/quantization_options.h"
#include "core/spec/job_spec_defaults.h"
#include "core/util/limit_status.h"
#include "gtest/gtest.h"

namespace pruneserve::jobs {
namespace {

constexpr char kTrain[] =
    "fashion-mnist:/usr/share/datasets/fashion-mnist:train";

v1::ModelVersion Model() {
  v1::ModelVersion m;
  m.set_name("vgg");
  m.set_version(3);
  m.set_format(v1::MODEL_FORMAT_TORCHSCRIPT);
  for (int64_t d : {1, 1, 28, 28}) m.add_example_input_shape(d);
  return m;
}

v1::JobSpec Spec() {
  v1::JobSpec spec;
  spec.set_model_name("vgg");
  spec.mutable_data()->set_train(kTrain);
  spec.mutable_finetune()->set_epochs(2);
  return spec;
}

absl::StatusCode CodeOf(const v1::JobSpec& spec) {
  return ResolveJobSpec(spec, Model()).status().code();
}

TEST(JobSpecTest, FillsDocumentedDefaults) {
  auto spec = ResolveJobSpec(Spec(), Model());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->model_version(), 3);
  ASSERT_EQ(spec->input_shape_size(), 4);
  EXPECT_EQ(spec->input_shape(2), 28);
  EXPECT_EQ(spec->pruning().policy(), "refined");
  EXPECT_EQ(spec->pruning().criterion(), "bn_gamma");
  EXPECT_EQ(spec->pruning().min_channels(), 2);
  // 0: the refined rule's own default, chosen from the analysed model.
  EXPECT_DOUBLE_EQ(spec->pruning().min_sparsity(), 0.0);
  EXPECT_EQ(spec->pruning().refined_rule(), "auto");
  EXPECT_DOUBLE_EQ(spec->finetune().learning_rate(), 0.01);
  EXPECT_DOUBLE_EQ(spec->finetune().momentum(), 0.9);
  EXPECT_DOUBLE_EQ(spec->finetune().weight_decay(), 1e-4);
  EXPECT_EQ(spec->finetune().batch_size(), 20);
  EXPECT_EQ(spec->rounds(), 1);
  EXPECT_EQ(spec->data().calibration_images(), 256);
  EXPECT_EQ(spec->output_name(), "vgg");
}

TEST(JobSpecTest, DefaultsAreTheCoreOptionsInitialisers) {
  const pipeline::PipelineOptions pipeline;
  const pruning::PolicyOptions& policy = pipeline.pruning.policy;
  const quantization::QuantizationOptions quantize;
  v1::JobSpec s = Spec();
  s.mutable_quantize()->set_enabled(true);
  s.mutable_vitis_export()->set_enabled(true);
  auto spec = ResolveJobSpec(s, Model());
  ASSERT_TRUE(spec.ok()) << spec.status();
  const v1::JobPruning& p = spec->pruning();
  EXPECT_EQ(spec::PolicyKindOf(p), policy.kind);
  EXPECT_EQ(spec::CriterionKindOf(p), pipeline.pruning.criterion);
  EXPECT_DOUBLE_EQ(p.ratio(), policy.ratio);
  EXPECT_DOUBLE_EQ(p.target_flops_reduction(), policy.target_flops_reduction);
  EXPECT_EQ(p.round_to(), policy.round_to);
  EXPECT_EQ(p.min_channels(), policy.min_channels);
  EXPECT_EQ(p.refined_rule(), pruning::RefinedRuleName(policy.refined_rule));
  EXPECT_DOUBLE_EQ(spec->finetune().learning_rate(),
                   pipeline.finetune.sgd.learning_rate);
  EXPECT_DOUBLE_EQ(spec->finetune().momentum(), pipeline.finetune.sgd.momentum);
  EXPECT_DOUBLE_EQ(spec->finetune().weight_decay(),
                   pipeline.finetune.sgd.weight_decay);
  EXPECT_EQ(spec->rounds(), pipeline.rounds);
  EXPECT_EQ(spec->data().calibration_images(), pipeline.calibration_examples);
  EXPECT_EQ(spec->quantize().method(),
            quantization::CalibrationMethodName(quantize.method));
  EXPECT_DOUBLE_EQ(spec->quantize().percentile(), quantize.percentile);
  EXPECT_EQ(spec->quantize().calibration_images(),
            quantize.calibration_examples);
  EXPECT_EQ(spec->vitis_export().calibration_images(),
            vitis::VitisExportOptions{}.calibration_images);
  // spec::JobSpecDefaults() is what was filled in.
  const v1::JobSpec& d = spec::JobSpecDefaults();
  EXPECT_EQ(p.policy(), d.pruning().policy());
  EXPECT_EQ(p.policy_kind(), d.pruning().policy_kind());
  EXPECT_EQ(p.criterion_kind(), d.pruning().criterion_kind());
  EXPECT_EQ(p.min_channels(), d.pruning().min_channels());
  EXPECT_EQ(spec->finetune().batch_size(), d.finetune().batch_size());
}

TEST(JobSpecTest, PolicyAndCriterionNamesMapOntoTheEnums) {
  // The names users type (JSON specs, prunectl flags) still work...
  v1::JobSpec s = Spec();
  s.mutable_pruning()->set_policy("target_flops");
  s.mutable_pruning()->set_criterion("apoz");
  auto spec = ResolveJobSpec(s, Model());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->pruning().policy_kind(), v1::PRUNING_POLICY_TARGET_FLOPS);
  EXPECT_EQ(spec->pruning().criterion_kind(), v1::IMPORTANCE_CRITERION_APOZ);
  EXPECT_EQ(spec->pruning().policy(), "target_flops");
  EXPECT_EQ(spec->pruning().criterion(), "apoz");
  EXPECT_EQ(spec::PolicyKindOf(spec->pruning()),
            pruning::PolicyKind::kTargetFlops);
  EXPECT_EQ(spec::CriterionKindOf(spec->pruning()),
            pruning::CriterionKind::kApoz);

  // ...so do the enums alone, and the stored spec names them too.
  s = Spec();
  s.mutable_pruning()->set_policy_kind(v1::PRUNING_POLICY_GLOBAL_THRESHOLD);
  s.mutable_pruning()->set_criterion_kind(v1::IMPORTANCE_CRITERION_L2);
  spec = ResolveJobSpec(s, Model());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->pruning().policy(), "global_threshold");
  EXPECT_EQ(spec->pruning().criterion(), "l2");

  // Both, agreeing.
  s.mutable_pruning()->set_policy("global_threshold");
  EXPECT_TRUE(ResolveJobSpec(s, Model()).ok());

  // Both, disagreeing: the enum field is named.
  s.mutable_pruning()->set_policy("uniform");
  auto r = ResolveJobSpec(s, Model());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("pruning.policy_kind"), std::string::npos)
      << r.status();

  // An enum value this server does not know.
  s = Spec();
  s.mutable_pruning()->set_criterion_kind(
      static_cast<v1::ImportanceCriterion>(99));
  r = ResolveJobSpec(s, Model());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("pruning.criterion_kind"),
            std::string::npos)
      << r.status();
}

TEST(JobSpecTest, SpecsStoredWithNamesOnlyStillMapOntoTheEngine) {
  // A spec stored before the enums existed carries only names.
  v1::JobPruning p;
  p.set_policy("uniform");
  p.set_criterion("l1");
  EXPECT_EQ(spec::PolicyKindOf(p), pruning::PolicyKind::kUniform);
  EXPECT_EQ(spec::CriterionKindOf(p), pruning::CriterionKind::kL1);
  EXPECT_EQ(spec::PolicyKindOf(v1::JobPruning()),
            pruning::PolicyKind::kRefined);
  EXPECT_EQ(spec::CriterionKindOf(v1::JobPruning()),
            pruning::CriterionKind::kBnGamma);
}

TEST(JobSpecTest, CalibrationIsRequiredExactlyWhenTheEngineNeedsIt) {
  for (pruning::PolicyKind policy :
       {pruning::PolicyKind::kRefined, pruning::PolicyKind::kUniform,
        pruning::PolicyKind::kGlobalThreshold, pruning::PolicyKind::kThreshold,
        pruning::PolicyKind::kTargetFlops, pruning::PolicyKind::kBudgeted,
        pruning::PolicyKind::kGlobalNormalized, pruning::PolicyKind::kLamp}) {
    for (pruning::CriterionKind criterion :
         {pruning::CriterionKind::kBnGamma, pruning::CriterionKind::kL1,
          pruning::CriterionKind::kApoz}) {
      v1::JobSpec s;
      s.set_model_name("vgg");
      s.mutable_pruning()->set_policy(pruning::PolicyKindName(policy));
      s.mutable_pruning()->set_criterion(pruning::CriterionKindName(criterion));
      auto r = ResolveJobSpec(s, Model());
      const bool needs = pruning::NeedsCalibration(policy, criterion);
      EXPECT_EQ(r.ok(), !needs)
          << s.pruning().ShortDebugString() << " " << r.status();
      if (needs) {
        EXPECT_NE(r.status().message().find("data.calibration"),
                  std::string::npos);
      }
    }
  }
}

TEST(JobSpecTest, NewPoliciesResolveAndOnlyBudgetedTakesAWeightsTarget) {
  v1::JobSpec s = Spec();
  s.mutable_pruning()->set_policy_kind(v1::PRUNING_POLICY_BUDGETED);
  s.mutable_pruning()->set_target_params_reduction(0.7);
  auto r = ResolveJobSpec(s, Model());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->pruning().policy(), "budgeted");
  auto o = PipelineOptionsFromSpec(*r, 1);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->pruning.policy.kind, pruning::PolicyKind::kBudgeted);
  EXPECT_DOUBLE_EQ(o->pruning.policy.target_params_reduction, 0.7);
  // A weights target alone: no MAC target is added.
  EXPECT_DOUBLE_EQ(o->pruning.policy.target_flops_reduction, 0.0);
  // Both given: both kept.
  s.mutable_pruning()->set_target_flops_reduction(0.8);
  o = PipelineOptionsFromSpec(*ResolveJobSpec(s, Model()), 1);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_DOUBLE_EQ(o->pruning.policy.target_flops_reduction, 0.8);
  EXPECT_DOUBLE_EQ(o->pruning.policy.target_params_reduction, 0.7);
  s.mutable_pruning()->clear_target_flops_reduction();

  s.mutable_pruning()->set_policy_kind(v1::PRUNING_POLICY_LAMP);
  r = ResolveJobSpec(s, Model());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()),
              ::testing::HasSubstr("pruning.target_params_reduction"));
  s.mutable_pruning()->set_policy_kind(v1::PRUNING_POLICY_BUDGETED);
  s.mutable_pruning()->set_target_params_reduction(1.0);
  EXPECT_EQ(CodeOf(s), absl::StatusCode::kInvalidArgument);
  s.mutable_pruning()->clear_target_params_reduction();
  s.mutable_pruning()->set_policy("global_normalized");
  s.mutable_pruning()->clear_policy_kind();
  r = ResolveJobSpec(s, Model());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->pruning().policy_kind(), v1::PRUNING_POLICY_GLOBAL_NORMALIZED);

  // A progressive schedule sets the rounds and splits the target.
  s.set_steps(4);
  r = ResolveJobSpec(s, Model());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rounds(), 4);
  o = PipelineOptionsFromSpec(*r, 1);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->split_target);
  EXPECT_EQ(o->rounds, 4);
  s.set_rounds(2);
  EXPECT_EQ(CodeOf(s), absl::StatusCode::kInvalidArgument);
  s.clear_rounds();
  s.mutable_pruning()->set_policy("uniform");
  r = ResolveJobSpec(s, Model());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()),
              ::testing::HasSubstr("steps: needs a policy with a target"));
}

TEST(JobSpecTest, DistillationWeightsDefaultOnlyWithDistill) {
  v1::JobSpec s = Spec();
  auto r = ResolveJobSpec(s, Model());
  ASSERT_TRUE(r.ok()) << r.status();
  // Off: nothing filled in, so a resolved spec resolves to itself.
  EXPECT_DOUBLE_EQ(r->finetune().distill_alpha(), 0.0);
  EXPECT_DOUBLE_EQ(r->finetune().distill_temperature(), 0.0);

  s.mutable_finetune()->set_distill(true);
  r = ResolveJobSpec(s, Model());
  ASSERT_TRUE(r.ok()) << r.status();
  const training::DistillationOptions trainer_defaults;
  EXPECT_DOUBLE_EQ(r->finetune().distill_alpha(), trainer_defaults.alpha);
  EXPECT_DOUBLE_EQ(r->finetune().distill_temperature(),
                   trainer_defaults.temperature);
  auto again = ResolveJobSpec(*r, Model());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->DebugString(), r->DebugString());

  s.mutable_finetune()->set_distill_alpha(0.9);
  s.mutable_finetune()->set_distill_temperature(2.0);
  r = ResolveJobSpec(s, Model());
  ASSERT_TRUE(r.ok()) << r.status();
  auto o = PipelineOptionsFromSpec(*r, 1);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_DOUBLE_EQ(o->finetune.distillation.alpha, 0.9);
  EXPECT_DOUBLE_EQ(o->finetune.distillation.temperature, 2.0);
  // The teacher is the runner's to set (it must outlive the pipeline).
  EXPECT_EQ(o->finetune.distillation.teacher, nullptr);

  const struct {
    double alpha, temperature;
    bool distill;
    const char* field;
  } bad[] = {
      {0.9, 0.0, false, "finetune.distill_alpha: needs finetune.distill"},
      {0.0, 2.0, false, "finetune.distill_temperature: needs finetune.distill"},
      {1.5, 0.0, true, "finetune.distill_alpha: 1.5 is outside (0, 1]"},
      {-0.1, 0.0, true, "finetune.distill_alpha"},
      {0.0, -1.0, true, "finetune.distill_temperature"},
      {0.0, 1000.0, true,
       "finetune.distill_temperature: 1000 is outside (0, 100]"},
  };
  v1::JobSpec no_epochs = Spec();
  no_epochs.mutable_finetune()->set_distill(true);
  no_epochs.mutable_finetune()->set_epochs(0);
  EXPECT_THAT(
      std::string(ResolveJobSpec(no_epochs, Model()).status().message()),
      ::testing::HasSubstr("finetune.distill: needs finetune.epochs > 0"));
  for (const auto& b : bad) {
    v1::JobSpec x = Spec();
    x.mutable_finetune()->set_distill(b.distill);
    x.mutable_finetune()->set_distill_alpha(b.alpha);
    x.mutable_finetune()->set_distill_temperature(b.temperature);
    auto bad_r = ResolveJobSpec(x, Model());
    EXPECT_EQ(bad_r.status().code(), absl::StatusCode::kInvalidArgument)
        << b.field;
    EXPECT_THAT(std::string(bad_r.status().message()),
                ::testing::HasSubstr(b.field));
  }
}

TEST(JobSpecTest, LatencyTargetIsBudgetedsInOneRound) {
  v1::JobSpec s = Spec();
  s.mutable_pruning()->set_policy_kind(v1::PRUNING_POLICY_BUDGETED);
  s.mutable_pruning()->set_target_latency_reduction(0.4);
  auto r = ResolveJobSpec(s, Model());
  ASSERT_TRUE(r.ok()) << r.status();
  auto o = PipelineOptionsFromSpec(*r, 1);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_DOUBLE_EQ(o->pruning.policy.target_latency_reduction, 0.4);
  // The latency target alone: no MAC floor is added.
  EXPECT_DOUBLE_EQ(o->pruning.policy.target_flops_reduction, 0.0);
  EXPECT_EQ(o->rounds, 1);

  s.set_rounds(3);
  r = ResolveJobSpec(s, Model());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()),
              ::testing::HasSubstr("pruning.target_latency_reduction: is met "
                                   "in one round; the job asks for 3"));
  s.clear_rounds();
  s.mutable_pruning()->set_target_latency_reduction(1.0);
  EXPECT_EQ(CodeOf(s), absl::StatusCode::kInvalidArgument);
  s.mutable_pruning()->set_target_latency_reduction(0.4);
  s.mutable_pruning()->set_policy_kind(v1::PRUNING_POLICY_LAMP);
  r = ResolveJobSpec(s, Model());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()),
              ::testing::HasSubstr("only the budgeted policy takes a latency"));
}

TEST(JobSpecTest, RejectsBadFieldsNamingThem) {
  v1::JobSpec s = Spec();
  s.mutable_pruning()->set_policy("magic");
  auto r = ResolveJobSpec(s, Model());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("pruning.policy"), std::string::npos);

  s = Spec();
  s.mutable_pruning()->set_criterion("taylor");
  EXPECT_EQ(CodeOf(s), absl::StatusCode::kInvalidArgument);
  s = Spec();
  s.mutable_pruning()->set_ratio(1.5);
  EXPECT_EQ(CodeOf(s), absl::StatusCode::kInvalidArgument);
  s = Spec();
  s.mutable_finetune()->set_epochs(-1);
  EXPECT_EQ(CodeOf(s), absl::StatusCode::kInvalidArgument);
  s = Spec();
  s.mutable_finetune()->set_batch_size(100000);
  EXPECT_EQ(CodeOf(s), absl::StatusCode::kInvalidArgument);
  s = Spec();
  s.set_rounds(-2);
  EXPECT_EQ(CodeOf(s), absl::StatusCode::kInvalidArgument);
  s = Spec();
  s.add_input_shape(1);
  s.add_input_shape(28);
  EXPECT_EQ(CodeOf(s), absl::StatusCode::kInvalidArgument);
  s = Spec();
  s.mutable_pruning()->add_exclude("([");
  EXPECT_EQ(CodeOf(s), absl::StatusCode::kInvalidArgument);
  s = Spec();
  s.set_output_name("bad/name");
  EXPECT_EQ(CodeOf(s), absl::StatusCode::kInvalidArgument);
  s = Spec();
  s.set_max_top1_drop(0.01);  // needs eval data
  EXPECT_EQ(CodeOf(s), absl::StatusCode::kInvalidArgument);
}

TEST(JobSpecTest, DataMustExistAndBeGivenWhenNeeded) {
  v1::JobSpec s = Spec();
  s.mutable_data()->set_train("fashion-mnist:/no/such/dir:train");
  auto r = ResolveJobSpec(s, Model());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("/no/such/dir"), std::string::npos);

  s = Spec();
  s.mutable_data()->set_train("");
  r = ResolveJobSpec(s, Model());
  EXPECT_NE(r.status().message().find("data.train"), std::string::npos);

  // No fine-tuning, refined policy: calibration data still required.
  s = Spec();
  s.mutable_finetune()->set_epochs(0);
  s.mutable_data()->set_train("");
  r = ResolveJobSpec(s, Model());
  EXPECT_NE(r.status().message().find("data.calibration"), std::string::npos);

  // ...but a uniform L1 prune needs no data at all.
  s.mutable_pruning()->set_policy("uniform");
  s.mutable_pruning()->set_criterion("l1");
  EXPECT_TRUE(ResolveJobSpec(s, Model()).ok());

  s = Spec();
  s.mutable_data()->set_eval("bogus:/tmp");
  EXPECT_EQ(CodeOf(s), absl::StatusCode::kInvalidArgument);
}

TEST(JobSpecTest, ModelMustBeTorchScriptWithAShape) {
  v1::ModelVersion xmodel = Model();
  xmodel.set_format(v1::MODEL_FORMAT_XMODEL);
  EXPECT_EQ(ResolveJobSpec(Spec(), xmodel).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::ModelVersion shapeless = Model();
  shapeless.clear_example_input_shape();
  auto r = ResolveJobSpec(Spec(), shapeless);
  EXPECT_NE(r.status().message().find("input_shape"), std::string::npos);
  v1::JobSpec s = Spec();
  for (int64_t d : {8, 1, 32, 32}) s.add_input_shape(d);
  r = ResolveJobSpec(s, shapeless);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->input_shape(0), 1);  // batch pinned to 1 for FLOPs
  EXPECT_EQ(r->input_shape(2), 32);
}

// Expects `spec` refused with INVALID_ARGUMENT whose message contains
// `needle` and which counts against `limit`.
void ExpectOverLimit(const v1::JobSpec& spec, const std::string& limit,
                     const std::string& needle) {
  auto r = ResolveJobSpec(spec, Model());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
      << r.status();
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status();
  EXPECT_EQ(ExceededLimit(r.status()), limit) << r.status();
}

// A 4097-byte description used to fail the job only when the repository
// refused its result, after all the compute; input_shape dims up to 65536
// made the FLOPs count allocate tens of GB.
TEST(JobSpecTest, FieldSizesAreCheckedAtSubmit) {
  v1::JobSpec s = Spec();
  s.set_description(std::string(4097, 'd'));
  ExpectOverLimit(s, "job_max_description_bytes",
                  "description: 4097 bytes; the limit is 4096 "
                  "(--job_max_description_bytes)");
  s.set_description(std::string(4096, 'd'));
  EXPECT_TRUE(ResolveJobSpec(s, Model()).ok());

  s = Spec();
  for (int64_t d : {1, 1, 4097, 28}) s.add_input_shape(d);
  ExpectOverLimit(s, "job_max_input_dim",
                  "input_shape: [1,1,4097,28] has a dim above 4096 "
                  "(--job_max_input_dim)");
  s.clear_input_shape();
  for (int64_t d : {1, 3, 65536, 65536}) s.add_input_shape(d);
  ExpectOverLimit(s, "job_max_input_dim", "input_shape: [1,3,65536,65536]");
  s.clear_input_shape();
  for (int64_t d : {1, 256, 4096, 4096}) s.add_input_shape(d);
  ExpectOverLimit(s, "job_max_input_elements",
                  "input_shape: [1,256,4096,4096] has more than 4194304 "
                  "elements per image (C*H*W) (--job_max_input_elements)");
  s.clear_input_shape();
  for (int64_t d : {8, 3, 1024, 1024}) s.add_input_shape(d);
  auto ok = ResolveJobSpec(s, Model());
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->input_shape(0), 1);

  // Smaller limits from the caller apply.
  JobSpecLimits tight;
  tight.max_input_dim = 16;
  EXPECT_EQ(ExceededLimit(ResolveJobSpec(Spec(), Model(), tight).status()),
            "job_max_input_dim");
}

TEST(JobSpecTest, ExcludeIsBoundedAndCompiledWithRe2) {
  v1::JobSpec s = Spec();
  for (int i = 0; i < 65; ++i) s.mutable_pruning()->add_exclude("features.0");
  ExpectOverLimit(s, "job_max_exclude_patterns",
                  "pruning.exclude: 65 patterns; the limit is 64 "
                  "(--job_max_exclude_patterns)");

  s = Spec();
  s.mutable_pruning()->add_exclude(std::string(257, 'a'));
  ExpectOverLimit(s, "job_max_exclude_pattern_bytes",
                  "pruning.exclude: a pattern of 257 bytes; the limit is 256 "
                  "(--job_max_exclude_pattern_bytes)");

  // Backtracking bombs for std::regex are ordinary linear-time RE2 patterns.
  s = Spec();
  s.mutable_pruning()->add_exclude("(a*)*b");
  s.mutable_pruning()->add_exclude("((a|aa)+)+$");
  s.mutable_pruning()->add_exclude("features\\.(0|3)");
  s.mutable_pruning()->add_exclude(std::string(256, '('));  // not a pattern
  auto r = ResolveJobSpec(s, Model());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("is not an RE2 pattern: missing )"),
            std::string::npos)
      << r.status();
  EXPECT_EQ(ExceededLimit(r.status()), std::nullopt);
  s.mutable_pruning()->mutable_exclude()->RemoveLast();
  EXPECT_TRUE(ResolveJobSpec(s, Model()).ok());

  // Lookbehind (ECMAScript, not RE2) is refused at submit, not at run time.
  s.mutable_pruning()->add_exclude("(?<=conv)1");
  r = ResolveJobSpec(s, Model());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("pruning.exclude"), std::string::npos);

  // Repetition that would need a huge program is refused by RE2's budget.
  s = Spec();
  s.mutable_pruning()->add_exclude("((((a{100}){100}){100}){100})");
  r = ResolveJobSpec(s, Model());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
      << r.status();
}

TEST(JobSpecTest, PythonFactoryIsADottedPublicNameOutsideTheSystemModules) {
  for (const char* good : {"torchvision.models:resnet18", "my_models:vgg13_bn",
                           "pkg.sub.mod:Build2"}) {
    v1::JobSpec s = Spec();
    s.mutable_vitis_export()->set_python_factory(good);
    EXPECT_TRUE(ResolveJobSpec(s, Model()).ok()) << good;
  }
  for (const char* bad : {"os:system",
                          "subprocess:run",
                          "builtins:exec",
                          "sys:exit",
                          "importlib:import_module",
                          "pdb:set_trace",
                          "os.path:join",
                          "torch:__import__",
                          "_private:f",
                          "m:_f",
                          "a.b",
                          "a:b:c",
                          "a..b:f",
                          "a.b:f()",
                          "a;b:f",
                          "1abc:f",
                          "a:f\nimport os",
                          "a b:f",
                          ":f",
                          "a:"}) {
    v1::JobSpec s = Spec();
    s.mutable_vitis_export()->set_python_factory(bad);
    auto r = ResolveJobSpec(s, Model());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("vitis_export.python_factory"),
              std::string::npos)
        << r.status();
  }
  v1::JobSpec s = Spec();
  s.mutable_vitis_export()->set_python_factory("m:" + std::string(300, 'f'));
  EXPECT_EQ(CodeOf(s), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pruneserve::jobs
