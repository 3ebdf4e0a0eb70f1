// VART runner sessions for a compiled xmodel; see vart_backend.h. Request
// data path per input: float NCHW -> NHWC -> int8 with the tensor's input
// scale -> runner-batch chunks (last one zero-padded); per output the
// reverse, dropping the padding rows. Runners come from
// vart::Runner::create_runner_with_attrs with one xir::Attrs per backend
// (its "lib" map overrides the xmodel's runner library per device).
#include "core/inference/vart/vart_backend.h"

#include <dlfcn.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vart/runner.hpp>
#include <vart/runner_ext.hpp>
#include <vart/tensor_buffer.hpp>
#include <xir/attrs/attrs.hpp>
#include <xir/graph/graph.hpp>
#include <xir/graph/subgraph.hpp>
#include <xir/tensor/tensor.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "core/inference/dpu_tensor_layout.h"
#include "core/xmodel/xmodel_reader.h"

namespace pruneserve::inference {
namespace {

// One runner tensor as the host sees it.
struct DpuTensor {
  const xir::Tensor* tensor = nullptr;
  std::string name;
  // Device shape; dim 0 is the runner batch, 4-d tensors are NHWC.
  std::vector<int64_t> shape;
  // Power of two of the tensor's scale: int8 = round(float * 2^fix_point).
  // From vart::get_input_scale / get_output_scale for RunnerExt runners,
  // from the tensor's fix_point attribute otherwise.
  int fix_point = 0;
  // Elements of one example (product of dims 1..).
  int64_t row_elements = 1;
  bool image() const { return shape.size() == 4; }
  // Shape of one example as clients see it: CHW for images.
  std::vector<int64_t> client_dims() const {
    if (image()) return {shape[3], shape[1], shape[2]};
    return std::vector<int64_t>(shape.begin() + 1, shape.end());
  }
};

absl::StatusOr<DpuTensor> DescribeTensor(const xir::Tensor* t,
                                         const char* role) {
  DpuTensor d;
  d.tensor = t;
  // vart::RunnerExt's get_input_scale / get_output_scale read the
  // fix_point; without one they abort, so it is checked first.
  d.name = t->get_name();
  for (std::int32_t s : t->get_shape()) d.shape.push_back(s);
  if (d.shape.size() < 2 || d.shape[0] < 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        role, " tensor ", d.name, " has no batch dimension and features"));
  }
  const xir::DataType& type = t->get_data_type();
  if (type.bit_width != 8 ||
      (type.type != xir::DataType::XINT && type.type != xir::DataType::INT)) {
    return absl::UnimplementedError(
        absl::StrCat(role, " tensor ", d.name, " is ", type.bit_width,
                     "-bit or unsigned; only signed 8-bit DPU tensors are "
                     "supported"));
  }
  if (!t->has_attr("fix_point")) {
    return absl::UnimplementedError(
        absl::StrCat(role, " tensor ", d.name, " has no fix_point attribute"));
  }
  d.fix_point = t->get_attr<int>("fix_point");
  for (size_t i = 1; i < d.shape.size(); ++i) d.row_elements *= d.shape[i];
  return d;
}

TensorSpec SpecFor(const DpuTensor& d) {
  TensorSpec spec;
  spec.name = d.name;
  spec.dtype = DataType::kFp32;
  spec.shape.push_back(-1);
  for (int64_t dim : d.client_dims()) spec.shape.push_back(dim);
  return spec;
}

// A TensorBuffer over host memory the session owns: VART copies it to and
// from the device around each job.
class HostTensorBuffer : public vart::TensorBuffer {
 public:
  HostTensorBuffer(const xir::Tensor* tensor, std::vector<int8_t>* storage)
      : vart::TensorBuffer(tensor), storage_(storage) {}

  std::pair<std::uint64_t, std::size_t> data(
      const std::vector<std::int32_t> idx) override {
    size_t offset = 0;
    if (!idx.empty()) {
      const std::vector<std::int32_t> shape = tensor_->get_shape();
      size_t stride = 1;
      for (size_t i = shape.size(); i-- > 0;) {
        if (i < idx.size()) offset += static_cast<size_t>(idx[i]) * stride;
        stride *= static_cast<size_t>(shape[i]);
      }
    }
    offset = std::min(offset, storage_->size());
    return {reinterpret_cast<std::uint64_t>(storage_->data() + offset),
            storage_->size() - offset};
  }

 private:
  std::vector<int8_t>* storage_;  // not owned; outlives the buffer
};

// The runner library for `subgraph`: the attrs override for its device, or
// what the xmodel names for mode "run". VART aborts the process (glog
// CHECK) when the subgraph names no runner or the library cannot be opened
// or lacks create_runner_with_attrs, so all three are checked here first.
absl::StatusOr<std::string> CheckRunnerLibrary(
    const xir::Subgraph* subgraph,
    const std::map<std::string, std::string>& runner_libs) {
  const std::string device = subgraph->get_attr<std::string>("device");
  std::string library;
  auto it = runner_libs.find(device);
  if (it != runner_libs.end()) {
    library = it->second;
  } else {
    if (!subgraph->has_attr("runner")) {
      return absl::FailedPreconditionError(absl::StrCat(
          "subgraph ", subgraph->get_name(),
          " has no \"runner\" attribute (not compiled by vai_c_xir?) and no "
          "runner library was configured for device ",
          device, " (--vart_runner_lib)"));
    }
    const auto runners =
        subgraph->get_attr<std::map<std::string, std::string>>("runner");
    auto run = runners.find("run");
    if (run == runners.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("subgraph ", subgraph->get_name(),
                       " names no runner for mode \"run\""));
    }
    library = run->second;
  }
  dlerror();
  void* handle = dlopen(library.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* error = dlerror();
    return absl::FailedPreconditionError(
        absl::StrCat("runner library ", library, " for device ", device,
                     " cannot be opened: ", error ? error : "unknown error"));
  }
  const bool has_factory = dlsym(handle, "create_runner_with_attrs") != nullptr;
  dlclose(handle);
  if (!has_factory) {
    return absl::FailedPreconditionError(
        absl::StrCat("runner library ", library, " for device ", device,
                     " does not export create_runner_with_attrs"));
  }
  return library;
}

}  // namespace

struct VartBackend::Shared {
  std::shared_ptr<const xir::Graph> graph;
  const xir::Subgraph* subgraph = nullptr;  // owned by graph
  // Handed to every runner; VART keeps one per graph. Runners may keep the
  // pointer, so every session holds this struct.
  std::unique_ptr<xir::Attrs> attrs;
  int timeout_ms = -1;
  // Serialises runner creation; VART does not promise it is thread-safe,
  // and the attrs are shared.
  absl::Mutex create_mu;
};

namespace {

// One runner and its buffers. Not thread-safe: one pool thread. The runner
// is created lazily and again after a failed job.
class VartSession : public BackendSession {
 public:
  // Creates the first runner. Errors as VartBackend::Create.
  static absl::StatusOr<std::unique_ptr<VartSession>> Create(
      std::shared_ptr<VartBackend::Shared> shared) {
    std::unique_ptr<VartSession> s(new VartSession(std::move(shared)));
    absl::Status opened = s->OpenRunner();
    if (!opened.ok()) return opened;
    return s;
  }

  ~VartSession() override { CloseRunner(); }

  const std::vector<DpuTensor>& inputs() const { return inputs_; }
  const std::vector<DpuTensor>& outputs() const { return outputs_; }
  int64_t batch() const { return batch_; }
  bool runner_ext() const { return ext_ != nullptr; }

  // Runs `inputs` in runner-batch chunks. INVALID_ARGUMENT for inputs that
  // do not match the specs, INTERNAL when a DPU job fails or times out (the
  // runner is then replaced before the next job). Blocks.
  absl::StatusOr<std::vector<HostTensor>> Run(
      const std::vector<HostTensor>& inputs) override {
    if (runner_ == nullptr) {
      absl::Status opened = OpenRunner();
      if (!opened.ok()) return opened;
    }
    if (inputs.size() != inputs_.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected ", inputs_.size(), " inputs, got ", inputs.size()));
    }
    const int64_t rows = inputs[0].batch();
    auto chunks = PlanBatchChunks(rows, batch_);
    if (!chunks.ok()) return chunks.status();

    std::vector<std::vector<int8_t>> request(inputs_.size());
    for (size_t i = 0; i < inputs_.size(); ++i) {
      auto q = QuantizeInput(inputs_[i], inputs[i], rows);
      if (!q.ok()) return q.status();
      request[i] = *std::move(q);
    }
    std::vector<std::vector<int8_t>> response(outputs_.size());
    for (size_t o = 0; o < outputs_.size(); ++o) {
      response[o].resize(static_cast<size_t>(rows * outputs_[o].row_elements));
    }
    for (const BatchChunk& chunk : *chunks) {
      for (size_t i = 0; i < inputs_.size(); ++i) {
        absl::Status s =
            FillChunk<int8_t>(request[i], inputs_[i].row_elements, chunk,
                              absl::MakeSpan(input_storage_[i]));
        if (s.ok()) s = CopyIn(i);
        if (!s.ok()) return s;
      }
      absl::Status job = Execute();
      if (!job.ok()) {
        // The job may still complete into these buffers later.
        CloseRunner();
        return job;
      }
      for (size_t o = 0; o < outputs_.size(); ++o) {
        absl::Status s = CopyOut(o);
        if (s.ok()) {
          s = ScatterChunk<int8_t>(output_storage_[o], outputs_[o].row_elements,
                                   chunk, absl::MakeSpan(response[o]));
        }
        if (!s.ok()) return s;
      }
    }
    std::vector<HostTensor> result;
    for (size_t o = 0; o < outputs_.size(); ++o) {
      auto t = DequantizeOutput(outputs_[o], response[o], rows);
      if (!t.ok()) return t.status();
      result.push_back(*std::move(t));
    }
    return result;
  }

 private:
  explicit VartSession(std::shared_ptr<VartBackend::Shared> shared)
      : shared_(std::move(shared)) {}

  // Creates the runner and learns (first time) or re-checks (later) its
  // tensors.
  absl::Status OpenRunner() {
    std::vector<const xir::Tensor*> in, out;
    std::unique_ptr<vart::Runner> runner;
    {
      absl::MutexLock lock(&shared_->create_mu);
      try {
        runner = vart::Runner::create_runner_with_attrs(shared_->subgraph,
                                                        shared_->attrs.get());
        if (runner == nullptr) {
          return absl::InternalError(
              absl::StrCat("VART returned no runner for subgraph ",
                           shared_->subgraph->get_name()));
        }
        in = runner->get_input_tensors();
        out = runner->get_output_tensors();
      } catch (const std::exception& e) {
        return absl::InternalError(
            absl::StrCat("creating VART runner for subgraph ",
                         shared_->subgraph->get_name(), ": ", e.what()));
      }
    }
    if (in.empty() || out.empty()) {
      return absl::FailedPreconditionError(
          "DPU runner has no input or no output tensors");
    }
    auto* ext = dynamic_cast<vart::RunnerExt*>(runner.get());
    std::vector<DpuTensor> inputs, outputs;
    for (const xir::Tensor* t : in) {
      auto d = DescribeTensor(t, "input");
      if (!d.ok()) return d.status();
      if (ext != nullptr) {
        absl::Status s = FixPointFromScale(vart::get_input_scale(t), 1, *d);
        if (!s.ok()) return s;
      }
      inputs.push_back(*std::move(d));
    }
    for (const xir::Tensor* t : out) {
      auto d = DescribeTensor(t, "output");
      if (!d.ok()) return d.status();
      if (ext != nullptr) {
        absl::Status s = FixPointFromScale(vart::get_output_scale(t), -1, *d);
        if (!s.ok()) return s;
      }
      outputs.push_back(*std::move(d));
    }
    const int64_t batch = inputs[0].shape[0];
    for (const auto* list : {&inputs, &outputs}) {
      for (const DpuTensor& d : *list) {
        if (d.shape[0] != batch) {
          return absl::FailedPreconditionError(
              absl::StrCat("runner tensors disagree on the batch: ", d.name,
                           " has ", d.shape[0], ", expected ", batch));
        }
      }
    }
    if (!inputs_.empty() && !SameTensors(inputs, inputs_, outputs, outputs_)) {
      return absl::InternalError(
          "a new VART runner reports other tensors than the first one");
    }
    std::vector<vart::TensorBuffer*> ext_in, ext_out;
    if (ext != nullptr) {
      ext_in = ext->get_inputs();
      ext_out = ext->get_outputs();
      if (ext_in.size() != inputs.size() || ext_out.size() != outputs.size()) {
        return absl::InternalError(
            absl::StrCat("VART RunnerExt has ", ext_in.size(), "/",
                         ext_out.size(), " input/output buffers for ",
                         inputs.size(), "/", outputs.size(), " tensors"));
      }
    }
    inputs_ = std::move(inputs);
    outputs_ = std::move(outputs);
    batch_ = batch;
    runner_ = std::move(runner);
    ext_ = ext;
    AllocateBuffers(ext_in, ext_out);
    return absl::OkStatus();
  }

  // Buffers first (they refer to the runner's tensors), then the runner.
  void CloseRunner() {
    input_ptrs_.clear();
    output_ptrs_.clear();
    input_buffers_.clear();
    output_buffers_.clear();
    ext_ = nullptr;
    runner_.reset();
  }

  // RunnerExt scales are powers of two (2^fix_point in, 2^-fix_point out);
  // the int8 helpers work with the exponent.
  static absl::Status FixPointFromScale(float scale, int sign, DpuTensor& d) {
    int exponent = 0;
    const float mantissa = std::frexp(scale, &exponent);
    if (!(scale > 0) || mantissa != 0.5f) {
      return absl::UnimplementedError(
          absl::StrCat("tensor ", d.name, " has scale ", scale,
                       ", which is not a power of two"));
    }
    d.fix_point = sign * (exponent - 1);
    return absl::OkStatus();
  }

  static bool SameTensors(const std::vector<DpuTensor>& in_a,
                          const std::vector<DpuTensor>& in_b,
                          const std::vector<DpuTensor>& out_a,
                          const std::vector<DpuTensor>& out_b) {
    auto same = [](const std::vector<DpuTensor>& a,
                   const std::vector<DpuTensor>& b) {
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i) {
        if (a[i].name != b[i].name || a[i].shape != b[i].shape ||
            a[i].fix_point != b[i].fix_point) {
          return false;
        }
      }
      return true;
    };
    return same(in_a, in_b) && same(out_a, out_b);
  }

  // Host storage for one runner batch per tensor; the job's buffers are the
  // RunnerExt's own (device memory on a board) when it has them, views of
  // the host storage otherwise.
  void AllocateBuffers(const std::vector<vart::TensorBuffer*>& ext_in,
                       const std::vector<vart::TensorBuffer*>& ext_out) {
    input_storage_.clear();
    output_storage_.clear();
    for (const DpuTensor& d : inputs_) {
      input_storage_.emplace_back(static_cast<size_t>(batch_ * d.row_elements));
    }
    for (const DpuTensor& d : outputs_) {
      output_storage_.emplace_back(
          static_cast<size_t>(batch_ * d.row_elements));
    }
    if (ext_ != nullptr) {
      input_ptrs_ = ext_in;
      output_ptrs_ = ext_out;
      return;
    }
    // Storage vectors are never resized again, so the pointers stay valid.
    for (size_t i = 0; i < inputs_.size(); ++i) {
      input_buffers_.push_back(std::make_unique<HostTensorBuffer>(
          inputs_[i].tensor, &input_storage_[i]));
      input_ptrs_.push_back(input_buffers_.back().get());
    }
    for (size_t o = 0; o < outputs_.size(); ++o) {
      output_buffers_.push_back(std::make_unique<HostTensorBuffer>(
          outputs_[o].tensor, &output_storage_[o]));
      output_ptrs_.push_back(output_buffers_.back().get());
    }
  }

  // Host storage of input `i` into the job's buffer, row by row (a
  // RunnerExt buffer need not hold its batch contiguously).
  absl::Status CopyIn(size_t i) {
    vart::TensorBuffer* buffer = input_ptrs_[i];
    if (ext_ != nullptr) {
      const int64_t row = inputs_[i].row_elements;
      for (int64_t b = 0; b < batch_; ++b) {
        auto target = RowAddress(buffer, b, row);
        if (!target.ok()) return target.status();
        std::memcpy(*target, input_storage_[i].data() + b * row,
                    static_cast<size_t>(row));
      }
    }
    buffer->sync_for_write(0, input_storage_[i].size());
    return absl::OkStatus();
  }

  absl::Status CopyOut(size_t o) {
    vart::TensorBuffer* buffer = output_ptrs_[o];
    buffer->sync_for_read(0, output_storage_[o].size());
    if (ext_ != nullptr) {
      const int64_t row = outputs_[o].row_elements;
      for (int64_t b = 0; b < batch_; ++b) {
        auto source = RowAddress(buffer, b, row);
        if (!source.ok()) return source.status();
        std::memcpy(output_storage_[o].data() + b * row, *source,
                    static_cast<size_t>(row));
      }
    }
    return absl::OkStatus();
  }

  static absl::StatusOr<int8_t*> RowAddress(vart::TensorBuffer* buffer,
                                            int64_t b, int64_t row_bytes) {
    std::vector<std::int32_t> idx(buffer->get_tensor()->get_shape().size(), 0);
    idx[0] = static_cast<std::int32_t>(b);
    std::pair<std::uint64_t, std::size_t> data = buffer->data(idx);
    if (data.first == 0 || data.second < static_cast<size_t>(row_bytes)) {
      return absl::InternalError(absl::StrCat(
          "runner buffer ", buffer->get_tensor()->get_name(), " has ",
          data.second, " bytes at batch row ", b, ", expected ", row_bytes));
    }
    return reinterpret_cast<int8_t*>(data.first);
  }

  absl::Status Execute() {
    try {
      std::pair<std::uint32_t, int> job =
          runner_->execute_async(input_ptrs_, output_ptrs_);
      if (job.second != 0) {
        return absl::InternalError(
            absl::StrCat("DPU execute_async failed with status ", job.second));
      }
      const int status =
          runner_->wait(static_cast<int>(job.first), shared_->timeout_ms);
      if (status != 0) {
        return absl::InternalError(absl::StrCat(
            "DPU job ", job.first, " failed or exceeded ", shared_->timeout_ms,
            " ms (wait status ", status, ")"));
      }
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("DPU job: ", e.what()));
    }
    return absl::OkStatus();
  }

  // The whole request for one input as int8 in device layout.
  static absl::StatusOr<std::vector<int8_t>> QuantizeInput(
      const DpuTensor& d, const HostTensor& input, int64_t rows) {
    std::vector<int64_t> want = {rows};
    for (int64_t dim : d.client_dims()) want.push_back(dim);
    if (input.shape != want) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input ", d.name, " has shape ", ShapeToString(input.shape),
          ", expected ", ShapeToString(want)));
    }
    const HostTensor f = CastToFloat32(input);
    const size_t n = static_cast<size_t>(rows * d.row_elements);
    if (f.bytes.size() != n * sizeof(float)) {
      return absl::InvalidArgumentError(
          absl::StrCat("input ", d.name, " has ", f.bytes.size(),
                       " bytes, expected ", n * sizeof(float)));
    }
    std::vector<float> values(n);
    std::memcpy(values.data(), f.bytes.data(), f.bytes.size());
    if (d.image()) {
      std::vector<float> nhwc(n);
      const ImageDims dims{rows, d.shape[3], d.shape[1], d.shape[2]};
      absl::Status s = NchwToNhwc<float>(values, dims, absl::MakeSpan(nhwc));
      if (!s.ok()) return s;
      values.swap(nhwc);
    }
    std::vector<int8_t> q(n);
    absl::Status s = QuantizeToInt8(values, d.fix_point, absl::MakeSpan(q));
    if (!s.ok()) return s;
    return q;
  }

  static absl::StatusOr<HostTensor> DequantizeOutput(
      const DpuTensor& d, const std::vector<int8_t>& q, int64_t rows) {
    std::vector<float> values(q.size());
    absl::Status s = DequantizeFromInt8(q, d.fix_point, absl::MakeSpan(values));
    if (!s.ok()) return s;
    if (d.image()) {
      std::vector<float> nchw(values.size());
      const ImageDims dims{rows, d.shape[3], d.shape[1], d.shape[2]};
      s = NhwcToNchw<float>(values, dims, absl::MakeSpan(nchw));
      if (!s.ok()) return s;
      values.swap(nchw);
    }
    HostTensor t;
    t.name = d.name;
    t.dtype = DataType::kFp32;
    t.shape = {rows};
    for (int64_t dim : d.client_dims()) t.shape.push_back(dim);
    t.bytes.assign(reinterpret_cast<const char*>(values.data()),
                   values.size() * sizeof(float));
    return t;
  }

  // Declaration order is destruction order reversed: buffers go first, then
  // the runner, then the shared graph its subgraph lives in.
  std::shared_ptr<VartBackend::Shared> shared_;
  std::unique_ptr<vart::Runner> runner_;
  // runner_ as a RunnerExt, or null.
  vart::RunnerExt* ext_ = nullptr;
  std::vector<DpuTensor> inputs_;
  std::vector<DpuTensor> outputs_;
  int64_t batch_ = 1;
  std::vector<std::vector<int8_t>> input_storage_;
  std::vector<std::vector<int8_t>> output_storage_;
  std::vector<std::unique_ptr<HostTensorBuffer>> input_buffers_;
  std::vector<std::unique_ptr<HostTensorBuffer>> output_buffers_;
  std::vector<vart::TensorBuffer*> input_ptrs_;
  std::vector<vart::TensorBuffer*> output_ptrs_;
};

}  // namespace

VartBackend::~VartBackend() = default;

absl::StatusOr<std::unique_ptr<VartBackend>> VartBackend::Create(
    VartBackendOptions options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(options.xmodel_path, ec)) {
    return absl::NotFoundError(
        absl::StrCat("xmodel ", options.xmodel_path, " not found"));
  }
  // XIR's reader does not throw on bytes that are not a graph: it aborts
  // the process (glog FATAL). The project's own reader parses the same
  // protobuf and also checks the references XIR would follow.
  absl::StatusOr<xmodel::XmodelSummary> readable =
      xmodel::ReadXmodelFile(options.xmodel_path);
  if (!readable.ok()) {
    return absl::Status(
        readable.status().code(),
        absl::StrCat("xmodel ", options.xmodel_path,
                     " cannot be loaded: ", readable.status().message()));
  }
  std::unique_ptr<VartBackend> backend(new VartBackend(std::move(options)));
  const std::string& path = backend->options_.xmodel_path;
  auto shared = std::make_shared<Shared>();
  try {
    std::unique_ptr<xir::Graph> graph = xir::Graph::deserialize(path);
    shared->graph = std::shared_ptr<const xir::Graph>(std::move(graph));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("reading xmodel ", path, ": ", e.what()));
  }
  std::vector<const xir::Subgraph*> dpu;
  for (const xir::Subgraph* child :
       shared->graph->get_root_subgraph()->children_topological_sort()) {
    if (child->has_attr("device") &&
        child->get_attr<std::string>("device") == "DPU") {
      dpu.push_back(child);
    }
  }
  if (dpu.size() != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "xmodel ", path, " has ", dpu.size(),
        " DPU subgraphs; exactly one is supported (compile it with "
        "vai_c_xir for the board's DPU)"));
  }
  shared->subgraph = dpu[0];
  auto library =
      CheckRunnerLibrary(shared->subgraph, backend->options_.runner_libs);
  if (!library.ok()) return library.status();
  backend->runner_library_ = *std::move(library);
  shared->attrs = xir::Attrs::create();
  if (!backend->options_.runner_libs.empty()) {
    shared->attrs->set_attr<std::map<std::string, std::string>>(
        "lib", backend->options_.runner_libs);
  }
  shared->timeout_ms = backend->options_.job_timeout_ms > 0
                           ? backend->options_.job_timeout_ms
                           : -1;
  backend->shared_ = std::move(shared);
  // A first runner validates the tensors and gives the specs.
  auto probe = VartSession::Create(backend->shared_);
  if (!probe.ok()) return probe.status();
  backend->runner_batch_ = (*probe)->batch();
  for (const DpuTensor& d : (*probe)->inputs()) {
    backend->inputs_.push_back(SpecFor(d));
  }
  for (const DpuTensor& d : (*probe)->outputs()) {
    backend->outputs_.push_back(SpecFor(d));
  }
  return backend;
}

absl::StatusOr<std::unique_ptr<BackendSession>> VartBackend::CreateSession() {
  auto session = VartSession::Create(shared_);
  if (!session.ok()) return session.status();
  return std::unique_ptr<BackendSession>(*std::move(session));
}

absl::StatusOr<std::unique_ptr<InferenceBackend>> CreateVartBackend(
    VartBackendOptions options) {
  auto backend = VartBackend::Create(std::move(options));
  if (!backend.ok()) return backend.status();
  return std::unique_ptr<InferenceBackend>(*std::move(backend));
}

}  // namespace pruneserve::inference
