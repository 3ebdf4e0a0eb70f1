#include "client/model_commands.h"

#include <filesystem>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/model_ref.h"
#include "client/output_format.h"
#include "client/repository_client.h"
#include "core/pipeline/pipeline_report.h"

namespace pruneserve::client {
namespace {

absl::StatusOr<std::vector<int64_t>> ParseShape(const std::string& text) {
  std::vector<int64_t> dims;
  for (absl::string_view part : absl::StrSplit(text, absl::ByAnyChar(",x"))) {
    int64_t d = 0;
    if (!absl::SimpleAtoi(part, &d)) {
      return absl::InvalidArgumentError(
          absl::StrCat("input shape \"", text, "\" is not like 1,3,32,32"));
    }
    dims.push_back(d);
  }
  return dims;
}

// One word for the STATE column: corrupt bytes first, then validation.
std::string StateName(const v1::ModelVersion& m) {
  if (m.corrupt()) return "CORRUPT";
  switch (m.validation()) {
    case v1::MODEL_VALIDATION_PASSED:
      return "ok";
    case v1::MODEL_VALIDATION_FAILED:
      return "INVALID";
    default:
      return "unchecked";
  }
}

void PrintModels(CliContext& ctx, const std::vector<v1::ModelVersion>& models) {
  if (ctx.json) {
    v1::ListModelsResponse response;
    for (const auto& m : models) *response.add_models() = m;
    std::printf("%s\n", ToJson(response).c_str());
    return;
  }
  TextTable table({"NAME", "VERSION", "FORMAT", "SIZE", "PARAMS", "FLOPS",
                   "INPUT", "CREATED", "SHA256", "STATE"});
  for (const auto& m : models) {
    table.AddRow({m.name(), absl::StrCat(m.version()), FormatName(m.format()),
                  HumanBytes(m.size_bytes()), HumanCount(m.parameter_count()),
                  m.flops() ? HumanCount(m.flops()) : "-",
                  ShapeString(m.example_input_shape()),
                  TimeString(m.created_unix_ms()), m.sha256().substr(0, 12),
                  StateName(m)});
  }
  std::printf("%s", table.Render().c_str());
}

std::string IntegrityName(v1::BlobIntegrity integrity) {
  switch (integrity) {
    case v1::BLOB_INTEGRITY_OK:
      return "ok";
    case v1::BLOB_INTEGRITY_CORRUPT:
      return "CORRUPT";
    case v1::BLOB_INTEGRITY_MISSING:
      return "MISSING";
    default:
      return "unknown";
  }
}

void PrintModel(CliContext& ctx, const v1::ModelVersion& model) {
  std::printf("%s", ctx.json ? (ToJson(model) + "\n").c_str()
                             : DescribeModel(model).c_str());
}

}  // namespace

void RegisterModelCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* model = app.add_subcommand("model", "Manage the model repository.");
  model->require_subcommand(1);

  // upload
  {
    auto* cmd = model->add_subcommand("upload", "Upload a model file.");
    auto file = std::make_shared<std::string>();
    auto name = std::make_shared<std::string>();
    auto description = std::make_shared<std::string>();
    auto sha256 = std::make_shared<std::string>();
    auto shape = std::make_shared<std::string>();
    auto format = std::make_shared<std::string>();
    cmd->add_option("file", *file, "TorchScript archive (.pt) or .xmodel")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("--name", *name, "Model name (default: file stem)");
    cmd->add_option("--description", *description, "Free-text description");
    cmd->add_option("--sha256", *sha256,
                    "Expected sha256; the server rejects other bytes");
    cmd->add_option("--input-shape", *shape,
                    "Example input shape, e.g. 1,1,28,28 (records output "
                    "shape and FLOPs)");
    cmd->add_option("--format", *format,
                    "torchscript or xmodel (default: "
                    "from the file extension)")
        ->check(CLI::IsMember({"torchscript", "xmodel"}));
    cmd->callback([&ctx, file, name, description, sha256, shape, format] {
      v1::UploadModelHeader header;
      std::filesystem::path path(*file);
      header.set_name(name->empty() ? path.stem().string() : *name);
      std::string fmt = !format->empty()                ? *format
                        : path.extension() == ".xmodel" ? "xmodel"
                                                        : "torchscript";
      header.set_format(fmt == "xmodel" ? v1::MODEL_FORMAT_XMODEL
                                        : v1::MODEL_FORMAT_TORCHSCRIPT);
      header.set_description(*description);
      header.set_expected_sha256(*sha256);
      if (!shape->empty()) {
        auto dims = ParseShape(*shape);
        if (!ctx.Check(dims.status())) return;
        for (int64_t d : *dims) header.add_example_input_shape(d);
      }
      RepositoryClient client(ctx.Channel());
      ProgressBar bar(stderr);
      auto stored = client.Upload(
          header, *file,
          [&](int64_t done, int64_t total) { bar.Update(done, total); });
      bar.Finish();
      if (!ctx.Check(stored.status())) return;
      PrintModel(ctx, *stored);
    });
  }
  // list
  {
    auto* cmd = model->add_subcommand("list", "List models and versions.");
    cmd->alias("ls");
    auto name = std::make_shared<std::string>();
    cmd->add_option("name", *name, "Only versions of this model");
    cmd->callback([&ctx, name] {
      RepositoryClient client(ctx.Channel());
      auto models = client.List(*name);
      if (!ctx.Check(models.status())) return;
      PrintModels(ctx, *models);
    });
  }
  // show
  {
    auto* cmd = model->add_subcommand("show", "Show one version's metadata.");
    auto ref = std::make_shared<std::string>();
    cmd->add_option("model", *ref, "NAME or NAME:VERSION (default latest)")
        ->required();
    cmd->callback([&ctx, ref] {
      auto parsed = ParseModelRef(*ref);
      if (!ctx.Check(parsed.status())) return;
      RepositoryClient client(ctx.Channel());
      auto m = client.Get(parsed->name, parsed->version);
      if (!ctx.Check(m.status())) return;
      PrintModel(ctx, *m);
      // A job's result carries its pipeline report: show the before/after.
      v1::PipelineReport report;
      if (!ctx.json && !m->report().empty() &&
          report.ParseFromString(m->report())) {
        std::printf("\n%s", pipeline::RenderPipelineReport(report).c_str());
      }
    });
  }
  // download
  {
    auto* cmd =
        model->add_subcommand("download", "Download a version's bytes.");
    auto ref = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    cmd->add_option("model", *ref, "NAME or NAME:VERSION")->required();
    cmd->add_option("-o,--out", *out, "Output file")->required();
    cmd->callback([&ctx, ref, out] {
      auto parsed = ParseModelRef(*ref);
      if (!ctx.Check(parsed.status())) return;
      RepositoryClient client(ctx.Channel());
      auto m = client.Download(parsed->name, parsed->version, *out);
      if (!ctx.Check(m.status())) return;
      if (!ctx.json) {
        std::printf("wrote %s:%lld (%s) to %s\n", m->name().c_str(),
                    static_cast<long long>(m->version()),
                    HumanBytes(m->size_bytes()).c_str(), out->c_str());
      } else {
        PrintModel(ctx, *m);
      }
    });
  }
  // verify
  {
    auto* cmd = model->add_subcommand(
        "verify",
        "Re-hash stored bytes on the server and report ok, CORRUPT or "
        "MISSING per version (every version when no model is given); bad "
        "versions are marked corrupt. Exits 1 if any is bad.");
    auto ref = std::make_shared<std::string>();
    cmd->add_option("model", *ref, "NAME (every version) or NAME:VERSION");
    cmd->callback([&ctx, ref] {
      ModelRef parsed;
      if (!ref->empty()) {
        auto r = ParseModelRef(*ref);
        if (!ctx.Check(r.status())) return;
        parsed = *r;
      }
      RepositoryClient client(ctx.Channel());
      auto checked = client.Verify(parsed.name, parsed.version);
      if (!ctx.Check(checked.status())) return;
      int bad = 0;
      v1::VerifyModelsResponse response;
      TextTable table({"NAME", "VERSION", "STATE", "SHA256", "DETAIL"});
      for (const auto& v : *checked) {
        if (v.integrity() != v1::BLOB_INTEGRITY_OK) ++bad;
        *response.add_versions() = v;
        table.AddRow({v.name(), absl::StrCat(v.version()),
                      IntegrityName(v.integrity()), v.sha256().substr(0, 12),
                      v.detail().empty() ? "-" : v.detail()});
      }
      if (ctx.json) {
        std::printf("%s\n", ToJson(response).c_str());
      } else {
        std::printf("%s", table.Render().c_str());
        std::printf("%zu version(s) verified: %zu ok, %d bad\n",
                    checked->size(), checked->size() - bad, bad);
      }
      if (bad > 0) ctx.exit_code = 1;
    });
  }
  // rm
  {
    auto* cmd = model->add_subcommand(
        "rm", "Delete a version (NAME:VERSION) or every version (NAME).");
    auto ref = std::make_shared<std::string>();
    cmd->add_option("model", *ref, "NAME or NAME:VERSION")->required();
    cmd->callback([&ctx, ref] {
      auto parsed = ParseModelRef(*ref);
      if (!ctx.Check(parsed.status())) return;
      RepositoryClient client(ctx.Channel());
      auto n = client.Delete(parsed->name, parsed->version);
      if (!ctx.Check(n.status())) return;
      if (ctx.json) {
        std::printf("{\"deleted_versions\": %d}\n", *n);
      } else {
        std::printf("deleted %d version(s) of %s\n", *n, parsed->name.c_str());
      }
    });
  }
}

}  // namespace pruneserve::client
