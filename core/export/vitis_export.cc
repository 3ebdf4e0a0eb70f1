#include "core/export/vitis_export.h"

#include <torch/script.h>
#include <torch/serialize.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/data/batch_source.h"
#include "core/export/channel_config.h"
#include "core/export/npy_writer.h"
#include "core/repository/model_name.h"
#include "core/util/cancellation_token.h"
#include "core/util/file_util.h"
#include "core/util/sha256.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"
#include "nlohmann/json.hpp"

namespace pruneserve::vitis {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr char kModelFile[] = "model.pt";
constexpr char kStateDictFile[] = "state_dict.pt";
constexpr char kChannelConfigFile[] = "channel_config.json";
constexpr char kImagesFile[] = "calibration_images.npy";
constexpr char kLabelsFile[] = "calibration_labels.npy";
constexpr char kManifestFile[] = "manifest.json";

std::string ShapeText(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

absl::Status ValidateOptions(const VitisExportOptions& options) {
  if (options.output_dir.empty()) {
    return absl::InvalidArgumentError("export output_dir is empty");
  }
  absl::Status name = ValidateModelName(options.model_name);
  if (!name.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("export model_name: ", name.message()));
  }
  if (options.input_shape.size() != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("export input_shape must be [N,C,H,W], got ",
                     ShapeText(options.input_shape)));
  }
  for (int64_t d : options.input_shape) {
    if (d <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("export input_shape ", ShapeText(options.input_shape),
                       " has a non-positive dimension"));
    }
  }
  if (options.calibration_images <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("calibration_images must be positive, got ",
                     options.calibration_images));
  }
  return absl::OkStatus();
}

absl::StatusOr<ExportedFile> DescribeFile(const std::string& dir,
                                          const std::string& name) {
  const std::string path = dir + "/" + name;
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InternalError("cannot reopen " + path);
  Sha256Hasher hasher;
  ExportedFile file;
  file.name = name;
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const std::streamsize n = in.gcount();
    if (n <= 0) break;
    hasher.Update(absl::string_view(buf.data(), static_cast<size_t>(n)));
    file.size_bytes += n;
  }
  if (in.bad()) return absl::InternalError("cannot read " + path);
  file.sha256 = hasher.FinishHex();
  return file;
}

// Saves the model, its state dict, and returns the output shape of one
// forward pass on zeros of `input_shape` (run on a deep copy in eval mode so
// BatchNorm statistics of the caller's module stay untouched).
absl::StatusOr<std::vector<int64_t>> WriteModelFiles(
    const torch::jit::Module& model, const std::vector<int64_t>& input_shape,
    const std::string& dir) {
  std::vector<int64_t> output_shape;
  try {
    torch::jit::Module copy = model.clone();
    copy.eval();
    torch::NoGradGuard no_grad;
    c10::IValue out = copy.forward({torch::zeros(input_shape)});
    if (!out.isTensor()) {
      return absl::InvalidArgumentError(
          "forward() must return one tensor for a Vitis export");
    }
    output_shape = out.toTensor().sizes().vec();
  } catch (const std::exception& e) {
    return TorchErrorToStatus(
        e, absl::StrCat("forward on input ", ShapeText(input_shape)));
  }
  try {
    model.save(dir + "/" + kModelFile);
    c10::Dict<std::string, at::Tensor> state;
    for (const auto& p : model.named_parameters(/*recurse=*/true)) {
      state.insert(p.name, p.value.detach().contiguous());
    }
    for (const auto& b : model.named_buffers(/*recurse=*/true)) {
      state.insert(b.name, b.value.detach().contiguous());
    }
    const std::vector<char> bytes = torch::pickle_save(c10::IValue(state));
    std::ofstream out(dir + "/" + kStateDictFile, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out)
      return absl::InternalError("cannot write " + dir + "/" + kStateDictFile);
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "saving model.pt / state_dict.pt",
                              absl::StatusCode::kInternal);
  }
  return output_shape;
}

// Copies up to options.calibration_images images and labels into .npy files.
absl::StatusOr<int64_t> WriteCalibration(
    data::BatchSource* source, const VitisExportOptions& options,
    const util::CancellationToken* cancel, const std::string& dir) {
  const std::vector<int64_t> image_shape(options.input_shape.begin() + 1,
                                         options.input_shape.end());
  PS_ASSIGN_OR_RETURN(std::unique_ptr<NpyWriter> images,
                      NpyWriter::Create(dir + "/" + kImagesFile,
                                        NpyDType::kFloat32, image_shape));
  PS_ASSIGN_OR_RETURN(
      std::unique_ptr<NpyWriter> labels,
      NpyWriter::Create(dir + "/" + kLabelsFile, NpyDType::kInt64, {}));
  source->StartEpoch(options.calibration_epoch);
  while (images->rows() < options.calibration_images) {
    if (cancel != nullptr && cancel->IsCancelled()) {
      return absl::CancelledError(
          "export cancelled while copying calibration data");
    }
    PS_ASSIGN_OR_RETURN(std::optional<data::Batch> batch, source->Next());
    if (!batch) break;
    try {
      const auto sizes = batch->images.sizes().vec();
      if (sizes.size() != 4 ||
          !std::equal(sizes.begin() + 1, sizes.end(), image_shape.begin())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "calibration images are ", ShapeText(sizes),
            " but the model input is ", ShapeText(options.input_shape),
            "; C, H and W must match"));
      }
      const int64_t take = std::min<int64_t>(
          sizes[0], options.calibration_images - images->rows());
      torch::Tensor x = batch->images.narrow(0, 0, take)
                            .to(torch::kCPU, torch::kFloat32)
                            .contiguous();
      torch::Tensor y = batch->labels.reshape({-1})
                            .narrow(0, 0, take)
                            .to(torch::kCPU, torch::kLong)
                            .contiguous();
      PS_RETURN_IF_ERROR(images->Append(x.data_ptr(), take));
      PS_RETURN_IF_ERROR(labels->Append(y.data_ptr(), take));
    } catch (const std::exception& e) {
      return TorchErrorToStatus(e, "converting a calibration batch");
    }
  }
  if (images->rows() == 0) {
    return absl::FailedPreconditionError(
        "the calibration source yielded no images; the Vitis quantizer needs "
        "calibration data");
  }
  PS_RETURN_IF_ERROR(images->Finish());
  PS_RETURN_IF_ERROR(labels->Finish());
  return images->rows();
}

absl::StatusOr<VitisExportResult> WriteExport(
    const torch::jit::Module& model, data::BatchSource* calibration,
    const VitisExportOptions& options,
    const util::CancellationToken* cancel, const std::string& dir) {
  VitisExportResult result;
  result.dir = options.output_dir;
  PS_ASSIGN_OR_RETURN(std::string config, ChannelConfigJson(model));
  result.layers = static_cast<int64_t>(json::parse(config)["layers"].size());
  PS_ASSIGN_OR_RETURN(result.output_shape,
                      WriteModelFiles(model, options.input_shape, dir));
  PS_RETURN_IF_ERROR(
      WriteFileAtomically(dir + "/" + kChannelConfigFile, config + "\n"));
  PS_ASSIGN_OR_RETURN(result.calibration_images,
                      WriteCalibration(calibration, options, cancel, dir));

  std::vector<std::string> names = {
      kModelFile, kStateDictFile, kChannelConfigFile, kImagesFile, kLabelsFile};
  std::string report_name;
  if (!options.quantization_report.empty()) {
    report_name = options.quantization_report_is_text
                      ? "quantization_report.txtpb"
                      : "quantization_report.binpb";
    PS_RETURN_IF_ERROR(WriteFileAtomically(dir + "/" + report_name,
                                           options.quantization_report));
    names.push_back(report_name);
  }
  json files = json::array();
  for (const std::string& name : names) {
    PS_ASSIGN_OR_RETURN(ExportedFile file, DescribeFile(dir, name));
    files.push_back({{"name", file.name},
                     {"size_bytes", file.size_bytes},
                     {"sha256", file.sha256}});
    result.files.push_back(std::move(file));
  }
  json manifest;
  manifest["format"] = "pruneserve.vitis_export.v1";
  manifest["model_name"] = options.model_name;
  manifest["input_shape"] = options.input_shape;
  manifest["input_layout"] = "NCHW";
  manifest["output_shape"] = result.output_shape;
  manifest["layers"] = result.layers;
  manifest["calibration"] = {{"images", result.calibration_images},
                             {"images_file", kImagesFile},
                             {"labels_file", kLabelsFile}};
  manifest["quantization_report"] =
      report_name.empty() ? json(nullptr) : json(report_name);
  manifest["python_factory"] = options.python_factory.empty()
                                   ? json(nullptr)
                                   : json(options.python_factory);
  manifest["files"] = std::move(files);
  PS_RETURN_IF_ERROR(
      WriteFileAtomically(dir + "/" + kManifestFile, manifest.dump(2) + "\n"));
  return result;
}

}  // namespace

absl::StatusOr<VitisExportResult> ExportForVitis(
    const torch::jit::Module& model, data::BatchSource* calibration,
    const VitisExportOptions& options,
    const util::CancellationToken* cancel) {
  PS_RETURN_IF_ERROR(ValidateOptions(options));
  if (calibration == nullptr) {
    return absl::InvalidArgumentError(
        "a Vitis export needs a calibration data source");
  }
  std::error_code ec;
  const fs::path final_dir(options.output_dir);
  if (fs::exists(final_dir, ec)) {
    if (!fs::is_directory(final_dir, ec) || !fs::is_empty(final_dir, ec)) {
      return absl::AlreadyExistsError(
          absl::StrCat("export directory ", options.output_dir,
                       " already exists and is not empty"));
    }
    fs::remove(final_dir, ec);
  }
  const std::string partial = options.output_dir + ".partial";
  fs::remove_all(partial, ec);
  PS_RETURN_IF_ERROR(MakeDirectories(partial));
  absl::StatusOr<VitisExportResult> result =
      WriteExport(model, calibration, options, cancel, partial);
  if (result.ok()) {
    fs::rename(partial, final_dir, ec);
    if (ec) {
      result = absl::InternalError(absl::StrCat("cannot rename ", partial,
                                                " to ", options.output_dir,
                                                ": ", ec.message()));
    }
  }
  if (!result.ok()) fs::remove_all(partial, ec);
  return result;
}

}  // namespace pruneserve::vitis
