// `prunectl dataset upload|list|show|rm`, and the upload of local data
// directories that `job submit` does before it submits.
#ifndef PRUNESERVE_CLIENT_DATASET_COMMANDS_H_
#define PRUNESERVE_CLIENT_DATASET_COMMANDS_H_

#include <map>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "client/cli_context.h"
#include "pruneserve/v1/datasets.pb.h"

namespace pruneserve::client {

// Adds the `dataset` command group to `app`. `ctx` must outlive parsing.
void RegisterDatasetCommands(CLI::App& app, CliContext& ctx);

// A job data flag's value as the server should see it. "DIR" or
// "DIR:SPLIT" naming a local directory is uploaded (once per directory;
// `uploaded` remembers) as a data set named after the directory, and
// becomes "dataset:NAME:VERSION[:SPLIT]"; without a split, `default_split`
// is used when the data set has it ("test" falls back to "val"). Anything else
// ("fashion-mnist:/srv/...", "dataset:NAME", "") is returned unchanged. The
// upload's error otherwise. Blocks on the upload.
absl::StatusOr<std::string> UploadIfLocal(
    CliContext& ctx, const std::string& value, const std::string& default_split,
    std::map<std::string, v1::Dataset>& uploaded);

}  // namespace pruneserve::client

#endif  // PRUNESERVE_CLIENT_DATASET_COMMANDS_H_
