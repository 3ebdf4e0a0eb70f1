// Small xmodels for the VART tests, built with the XIR API at test time
// (xir::Graph::create, add_op, create_children, serialize) the way vai_c_xir
// lays out a compiled model: the data-fix inputs in a "USER" subgraph, the
// computing ops in one "DPU" subgraph whose "runner" attribute names
// libvart-dpu-runner.so. tests/vart/reference_runner.cc computes the INT8
// reference of these ops, and the Expected* functions here give what the
// server must return for float inputs, independently of the backend.
#ifndef PRUNESERVE_TESTS_VART_VART_FIXTURES_H_
#define PRUNESERVE_TESTS_VART_VART_FIXTURES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace pruneserve::testing {

struct VartFixtureOptions {
  // The reference runner's batch (pruneserve_reference_batch); real DPUs
  // have 1 to 14, often odd ones.
  int runner_batch = 3;
  // pruneserve_reference_behaviour: "compute", "fail", "hang",
  // "fail_create".
  std::string behaviour = "compute";
  // Whether the runner is a vart::RunnerExt.
  bool runner_ext = true;
  // The DPU subgraph's library for mode "run".
  std::string run_library = "libvart-dpu-runner.so";
  // Number of DPU subgraphs (the backend serves exactly one).
  int dpu_subgraphs = 1;
  // Only the "image" input and its two outputs ("channel_max", "copy"):
  // what `prunectl bench` and `prunectl infer` can drive.
  bool single_input = false;
};

// Fix points of the "multi" fixture.
inline constexpr int kImageFixPoint = 4;   // input "image" [1,4,3,2] NHWC
inline constexpr int kVectorFixPoint = 3;  // input "vector" [1,5]
inline constexpr int kWeightFixPoint = 3;  // const-fix "weights" [1,5]
inline constexpr int kCopyFixPoint = 3;    // identity(image)
inline constexpr int kMaxFixPoint = 4;     // reduction_max over H, W
inline constexpr int kBiasedFixPoint = 2;  // eltwise ADD(vector, weights)
inline constexpr int kImageH = 4, kImageW = 3, kImageC = 2, kVectorLen = 5;
// The int8 weights of the const-fix op.
std::vector<int8_t> FixtureWeights();

// Writes the "multi" fixture to `path`: inputs "image" and "vector",
// outputs "biased" [1,5], "channel_max" [1,C], "copy" [1,H,W,C]; one
// const-fix op of kVectorLen weights. With dpu_subgraphs == 2 the identity
// op sits in a second DPU subgraph; with single_input there is no
// "vector", "weights" or "biased". INTERNAL with XIR's message on failure.
absl::Status WriteMultiFixture(const std::string& path,
                               const VartFixtureOptions& options);

// Expected server outputs of the multi fixture for a batch of `rows`:
// `image` is NCHW float [rows, C, H, W], `vector` [rows, 5]. Results in
// client layout: copy NCHW [rows, C, H, W], channel_max [rows, C],
// biased [rows, 5].
struct MultiExpected {
  std::vector<float> biased;
  std::vector<float> channel_max;
  std::vector<float> copy;
};
MultiExpected ExpectedMulti(const std::vector<float>& image,
                            const std::vector<float>& vector, int64_t rows);

// Deterministic test inputs: values on and off the input grids, ties and
// values beyond the int8 range, different per row and `seed`.
std::vector<float> FixtureValues(int64_t count, int seed);

}  // namespace pruneserve::testing

#endif  // PRUNESERVE_TESTS_VART_VART_FIXTURES_H_
