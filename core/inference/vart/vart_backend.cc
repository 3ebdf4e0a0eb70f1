// VART runner sessions for a compiled xmodel; see vart_backend.h. Request
// data path per input: float NCHW -> NHWC -> int8 with the tensor's
// fix_point -> runner-batch chunks (last one zero-padded); per output the
// reverse, dropping the padding rows.
#include "core/inference/vart/vart_backend.h"

#include <cstring>
#include <filesystem>
#include <utility>
#include <vart/runner.hpp>
#include <vart/tensor_buffer.hpp>
#include <xir/graph/graph.hpp>
#include <xir/graph/subgraph.hpp>
#include <xir/tensor/tensor.hpp>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "core/inference/dpu_tensor_layout.h"

namespace pruneserve::inference {
namespace {

// One runner tensor as the host sees it.
struct DpuTensor {
  const xir::Tensor* tensor = nullptr;
  std::string name;
  // Device shape; dim 0 is the runner batch, 4-d tensors are NHWC.
  std::vector<int64_t> shape;
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

// One runner and its host buffers. Not thread-safe: one pool thread.
class VartSession : public BackendSession {
 public:
  static absl::StatusOr<std::unique_ptr<VartSession>> Create(
      std::shared_ptr<const xir::Graph> graph, const xir::Subgraph* subgraph,
      int job_timeout_ms) {
    std::unique_ptr<VartSession> s(new VartSession());
    s->graph_ = std::move(graph);
    s->timeout_ms_ = job_timeout_ms > 0 ? job_timeout_ms : -1;
    std::vector<const xir::Tensor*> in, out;
    try {
      s->runner_ = vart::Runner::create_runner(subgraph, "run");
      if (s->runner_ == nullptr) {
        return absl::InternalError(absl::StrCat(
            "VART returned no runner for subgraph ", subgraph->get_name()));
      }
      in = s->runner_->get_input_tensors();
      out = s->runner_->get_output_tensors();
    } catch (const std::exception& e) {
      return absl::InternalError(
          absl::StrCat("creating VART runner for subgraph ",
                       subgraph->get_name(), ": ", e.what()));
    }
    if (in.empty() || out.empty()) {
      return absl::FailedPreconditionError(
          "DPU runner has no input or no output tensors");
    }
    for (const xir::Tensor* t : in) {
      auto d = DescribeTensor(t, "input");
      if (!d.ok()) return d.status();
      s->inputs_.push_back(*std::move(d));
    }
    for (const xir::Tensor* t : out) {
      auto d = DescribeTensor(t, "output");
      if (!d.ok()) return d.status();
      s->outputs_.push_back(*std::move(d));
    }
    s->batch_ = s->inputs_[0].shape[0];
    for (const auto* list : {&s->inputs_, &s->outputs_}) {
      for (const DpuTensor& d : *list) {
        if (d.shape[0] != s->batch_) {
          return absl::FailedPreconditionError(
              absl::StrCat("runner tensors disagree on the batch: ", d.name,
                           " has ", d.shape[0], ", expected ", s->batch_));
        }
      }
    }
    s->AllocateBuffers();
    return s;
  }

  const std::vector<DpuTensor>& inputs() const { return inputs_; }
  const std::vector<DpuTensor>& outputs() const { return outputs_; }
  int64_t batch() const { return batch_; }

  // Runs `inputs` in runner-batch chunks. INVALID_ARGUMENT for inputs that
  // do not match the specs, INTERNAL when a DPU job fails. Blocks.
  absl::StatusOr<std::vector<HostTensor>> Run(
      const std::vector<HostTensor>& inputs) override {
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
        if (!s.ok()) return s;
        input_buffers_[i]->sync_for_write(0, input_storage_[i].size());
      }
      absl::Status job = Execute();
      if (!job.ok()) return job;
      for (size_t o = 0; o < outputs_.size(); ++o) {
        output_buffers_[o]->sync_for_read(0, output_storage_[o].size());
        absl::Status s =
            ScatterChunk<int8_t>(output_storage_[o], outputs_[o].row_elements,
                                 chunk, absl::MakeSpan(response[o]));
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
  VartSession() = default;

  void AllocateBuffers() {
    for (const DpuTensor& d : inputs_) {
      input_storage_.emplace_back(static_cast<size_t>(batch_ * d.row_elements));
    }
    for (const DpuTensor& d : outputs_) {
      output_storage_.emplace_back(
          static_cast<size_t>(batch_ * d.row_elements));
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

  absl::Status Execute() {
    try {
      std::pair<std::uint32_t, int> job =
          runner_->execute_async(input_ptrs_, output_ptrs_);
      if (job.second != 0) {
        return absl::InternalError(
            absl::StrCat("DPU execute_async failed with status ", job.second));
      }
      const int status =
          runner_->wait(static_cast<int>(job.first), timeout_ms_);
      if (status != 0) {
        return absl::InternalError(
            absl::StrCat("DPU job ", job.first, " failed or exceeded ",
                         timeout_ms_, " ms (wait status ", status, ")"));
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
  // the runner, then the graph its subgraph lives in.
  std::shared_ptr<const xir::Graph> graph_;
  std::unique_ptr<vart::Runner> runner_;
  std::vector<DpuTensor> inputs_;
  std::vector<DpuTensor> outputs_;
  int64_t batch_ = 1;
  int timeout_ms_ = -1;
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
  std::unique_ptr<VartBackend> backend(new VartBackend(std::move(options)));
  try {
    std::unique_ptr<xir::Graph> graph =
        xir::Graph::deserialize(backend->options_.xmodel_path);
    backend->graph_ = std::shared_ptr<const xir::Graph>(std::move(graph));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reading xmodel ", backend->options_.xmodel_path, ": ", e.what()));
  }
  std::vector<const xir::Subgraph*> dpu;
  for (const xir::Subgraph* child :
       backend->graph_->get_root_subgraph()->children_topological_sort()) {
    if (child->has_attr("device") &&
        child->get_attr<std::string>("device") == "DPU") {
      dpu.push_back(child);
    }
  }
  if (dpu.size() != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "xmodel ", backend->options_.xmodel_path, " has ", dpu.size(),
        " DPU subgraphs; exactly one is supported (compile it with "
        "vai_c_xir for the board's DPU)"));
  }
  backend->subgraph_ = dpu[0];
  // A first runner validates the tensors and gives the specs.
  auto probe = VartSession::Create(backend->graph_, backend->subgraph_,
                                   backend->options_.job_timeout_ms);
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
  absl::MutexLock lock(&create_mu_);
  auto session =
      VartSession::Create(graph_, subgraph_, options_.job_timeout_ms);
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
