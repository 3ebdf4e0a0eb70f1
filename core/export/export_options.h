// What the export stage writes and names (VitisExportOptions), apart from
// the code that writes it (vitis_export.h), so that job specs take their
// defaults from it without LibTorch.
#ifndef PRUNESERVE_CORE_EXPORT_EXPORT_OPTIONS_H_
#define PRUNESERVE_CORE_EXPORT_EXPORT_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace pruneserve::vitis {

struct VitisExportOptions {
  // Directory to create. It must not exist, or be empty.
  std::string output_dir;
  // Model name recorded in the manifest; the compile step names the xmodel
  // after it. Same alphabet as repository model names.
  std::string model_name = "model";
  // Example input [N, C, H, W]; the calibration images must match C, H, W.
  std::vector<int64_t> input_shape;
  // Images copied from the calibration source (the first ones of its
  // `calibration_epoch` order). The Vitis quantizer recommends 100-1000.
  int64_t calibration_images = 200;
  // Epoch whose order the calibration images are taken from.
  int64_t calibration_epoch = 0;
  // Serialized pruneserve.v1.QuantizationReport (binary, or text format when
  // quantization_report_is_text); empty for none. Written as given.
  std::string quantization_report;
  bool quantization_report_is_text = false;
  // Python function ("package.module:function") that builds the dense
  // nn.Module; recorded in the manifest for deploy/vitis/, which narrows that
  // module to the exported widths. Empty when unknown.
  std::string python_factory;
};

}  // namespace pruneserve::vitis

#endif  // PRUNESERVE_CORE_EXPORT_EXPORT_OPTIONS_H_
