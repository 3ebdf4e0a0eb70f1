#include "client/dataset_commands.h"

#include <filesystem>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "client/dataset_client.h"
#include "client/model_ref.h"
#include "client/output_format.h"
#include "core/spec/dataset_format_names.h"

namespace pruneserve::client {
namespace {

namespace fs = std::filesystem;

std::string FormatLabel(v1::DatasetFormat f) {
  const absl::string_view name = spec::DatasetFormatName(f);
  return name.empty() ? "?" : std::string(name);
}

std::string SplitsLabel(const v1::Dataset& d) {
  std::vector<std::string> parts;
  for (const auto& s : d.splits()) {
    parts.push_back(absl::StrCat(s.name().empty() ? "all" : s.name(), "=",
                                 s.images(), "/", s.classes(), "cls"));
  }
  return absl::StrJoin(parts, " ");
}

void PrintDatasets(CliContext& ctx, const std::vector<v1::Dataset>& list) {
  if (ctx.json) {
    v1::ListDatasetsResponse response;
    for (const auto& d : list) *response.add_datasets() = d;
    std::printf("%s\n", ToJson(response).c_str());
    return;
  }
  TextTable table({"NAME", "VERSION", "FORMAT", "SPLITS (images/classes)",
                   "STORED", "CREATED", "SHA256"});
  for (const auto& d : list) {
    table.AddRow({d.name(), absl::StrCat(d.version()), FormatLabel(d.format()),
                  SplitsLabel(d), HumanBytes(d.stored_bytes()),
                  TimeString(d.created_unix_ms()), d.sha256().substr(0, 12)});
  }
  std::printf("%s", table.Render().c_str());
}

void PrintDataset(CliContext& ctx, const v1::Dataset& d) {
  if (ctx.json) {
    std::printf("%s\n", ToJson(d).c_str());
    return;
  }
  std::printf("name:        %s\nversion:     %lld\nformat:      %s\n",
              d.name().c_str(), static_cast<long long>(d.version()),
              FormatLabel(d.format()).c_str());
  if (!d.description().empty()) {
    std::printf("description: %s\n", d.description().c_str());
  }
  std::printf(
      "sha256:      %s\narchive:     %s\nstored:      %s in %lld "
      "files\ncreated:     %s\n",
      d.sha256().c_str(), HumanBytes(d.archive_bytes()).c_str(),
      HumanBytes(d.stored_bytes()).c_str(), static_cast<long long>(d.files()),
      TimeString(d.created_unix_ms()).c_str());
  for (const auto& s : d.splits()) {
    std::printf("split %-6s %lld images, %lld classes",
                s.name().empty() ? "(all)" : s.name().c_str(),
                static_cast<long long>(s.images()),
                static_cast<long long>(s.classes()));
    if (s.height() > 0) {
      std::printf(", %lldx%lldx%lld", static_cast<long long>(s.channels()),
                  static_cast<long long>(s.height()),
                  static_cast<long long>(s.width()));
    }
    std::printf("\n");
  }
  std::printf("use as:      dataset:%s:%lld[:SPLIT]\n", d.name().c_str(),
              static_cast<long long>(d.version()));
}

// A data-set name from a directory's name: [A-Za-z0-9._-], no leading '.'
// or '-', no "..".
std::string NameFromPath(const std::string& path) {
  std::string base = fs::path(path).lexically_normal().filename().string();
  if (base.empty() || base == ".") {
    base = fs::absolute(path).lexically_normal().parent_path().filename();
  }
  std::string out;
  for (char c : base) {
    const bool ok = absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                    c == '_' || c == '-' || c == '.';
    out.push_back(ok ? c : '_');
  }
  while (absl::StrContains(out, "..")) {
    out = std::string(absl::StrReplaceAll(out, {{"..", "."}}));
  }
  while (!out.empty() && (out[0] == '.' || out[0] == '-')) out.erase(0, 1);
  if (out.empty()) out = "dataset";
  return out.substr(0, 128);
}

absl::StatusOr<v1::Dataset> UploadPath(CliContext& ctx, const std::string& path,
                                       const std::string& name,
                                       const std::string& format,
                                       const std::string& description,
                                       const std::string& split) {
  v1::UploadDatasetHeader header;
  header.set_name(name.empty() ? NameFromPath(path) : name);
  header.set_description(description);
  header.set_split(split);
  std::error_code ec;
  if (!format.empty()) {
    auto f = ParseDatasetFormat(format);
    if (!f.ok()) return f.status();
    header.set_format(*f);
  } else if (fs::is_directory(path, ec)) {
    auto f = DetectDatasetFormat(path);
    if (!f.ok()) return f.status();
    header.set_format(*f);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is a file: pass --format for a tar archive"));
  }
  DatasetClient client(ctx.Channel());
  return client.Upload(header, path);
}

}  // namespace

absl::StatusOr<std::string> UploadIfLocal(
    CliContext& ctx, const std::string& value, const std::string& default_split,
    std::map<std::string, v1::Dataset>& uploaded) {
  if (value.empty()) return value;
  for (const char* prefix : {"dataset:", "mnist:", "fashion-mnist:", "cifar10:",
                             "cifar100:", "imagefolder:"}) {
    if (absl::StartsWith(value, prefix)) return value;
  }
  std::string dir = value;
  std::string split;
  for (const char* s : {":train", ":test", ":val"}) {
    if (absl::EndsWith(value, s)) {
      dir = value.substr(0, value.size() - std::string(s).size());
      split = std::string(s).substr(1);
    }
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", value,
        "\" is neither a local directory nor a data-set spec "
        "(dataset:NAME[:VERSION][:SPLIT] or FORMAT:SERVER_DIR[:SPLIT])"));
  }
  const std::string key = fs::absolute(dir).lexically_normal().string();
  auto it = uploaded.find(key);
  if (it == uploaded.end()) {
    if (!ctx.json) {
      std::fprintf(stderr, "uploading %s ...\n", dir.c_str());
    }
    auto stored = UploadPath(ctx, dir, "", "", "", "");
    if (!stored.ok()) return stored.status();
    if (!ctx.json) {
      std::fprintf(stderr, "stored data set %s:%lld (%s)\n",
                   stored->name().c_str(),
                   static_cast<long long>(stored->version()),
                   SplitsLabel(*stored).c_str());
    }
    it = uploaded.emplace(key, *std::move(stored)).first;
  }
  const v1::Dataset& d = it->second;
  // Evaluation data: the test split, or an ImageFolder's val split.
  for (const std::string& candidate :
       {default_split, default_split == "test" ? std::string("val") : ""}) {
    for (const auto& s : d.splits()) {
      if (split.empty() && !candidate.empty() && s.name() == candidate) {
        split = candidate;
      }
    }
  }
  std::string out = absl::StrCat("dataset:", d.name(), ":", d.version());
  if (!split.empty()) absl::StrAppend(&out, ":", split);
  return out;
}

void RegisterDatasetCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* group = app.add_subcommand(
      "dataset",
      "Data sets stored on the server (jobs name them dataset:NAME).");
  group->require_subcommand(1);
  // upload
  {
    auto* cmd = group->add_subcommand(
        "upload",
        "Upload a local data-set directory (IDX files, CIFAR batches or an "
        "ImageFolder tree, packed into a tar on the fly) or a tar archive.");
    auto path = std::make_shared<std::string>();
    auto name = std::make_shared<std::string>();
    auto format = std::make_shared<std::string>();
    auto description = std::make_shared<std::string>();
    auto split = std::make_shared<std::string>();
    cmd->add_option("path", *path, "Directory or .tar[.gz] file")
        ->required()
        ->check(CLI::ExistingPath);
    cmd->add_option("--name", *name,
                    "Data set name (default: the directory's name)");
    cmd->add_option("--format", *format,
                    "mnist | fashion-mnist | cifar10 | cifar100 | imagefolder "
                    "(default: judged from the file names)");
    cmd->add_option("--description", *description, "Free-text description");
    cmd->add_option("--split", *split,
                    "IDX only: train or test, for one image and one label "
                    "file under other names");
    cmd->callback([&ctx, path, name, format, description, split] {
      auto stored =
          UploadPath(ctx, *path, *name, *format, *description, *split);
      if (!ctx.Check(stored.status())) return;
      PrintDataset(ctx, *stored);
    });
  }
  // list
  {
    auto* cmd = group->add_subcommand("list", "List data sets and versions.");
    cmd->alias("ls");
    auto name = std::make_shared<std::string>();
    cmd->add_option("name", *name, "Only versions of this data set");
    cmd->callback([&ctx, name] {
      DatasetClient client(ctx.Channel());
      auto list = client.List(*name);
      if (!ctx.Check(list.status())) return;
      PrintDatasets(ctx, *list);
    });
  }
  // show
  {
    auto* cmd = group->add_subcommand("show", "Show one version.");
    auto ref = std::make_shared<std::string>();
    cmd->add_option("dataset", *ref, "NAME or NAME:VERSION (default latest)")
        ->required();
    cmd->callback([&ctx, ref] {
      auto parsed = ParseModelRef(*ref);
      if (!ctx.Check(parsed.status())) return;
      DatasetClient client(ctx.Channel());
      auto d = client.Get(parsed->name, parsed->version);
      if (!ctx.Check(d.status())) return;
      PrintDataset(ctx, *d);
    });
  }
  // rm
  {
    auto* cmd = group->add_subcommand(
        "rm", "Delete a version, or every version without :VERSION.");
    auto ref = std::make_shared<std::string>();
    cmd->add_option("dataset", *ref, "NAME or NAME:VERSION")->required();
    cmd->callback([&ctx, ref] {
      auto parsed = ParseModelRef(*ref);
      if (!ctx.Check(parsed.status())) return;
      DatasetClient client(ctx.Channel());
      auto n = client.Delete(parsed->name, parsed->version);
      if (!ctx.Check(n.status())) return;
      if (ctx.json) {
        std::printf("{\"deletedVersions\": %lld}\n",
                    static_cast<long long>(*n));
      } else {
        std::printf("deleted %lld version(s) of %s\n",
                    static_cast<long long>(*n), parsed->name.c_str());
      }
    });
  }
}

}  // namespace pruneserve::client
