// libpruneserve-reference-runner.so: a VART runner plugin for the VART
// tests. vart::Runner::create_runner_with_attrs opens it when the server
// runs with --vart_runner_lib DPU=<this library>, as it would open
// libvart-dpu-runner.so on a board. Instead of a DPU it computes the INT8
// reference of the ops in its subgraph, row by row of its batch, so the
// tests can compare every value that comes back through the server.
//
// Supported ops (what tests/vart/vart_fixtures builds): const-fix,
// identity, eltwise-fix (ADD) and reduction_max-fix. Each produces
// q_out = clamp(floor(v * 2^fix_point_out + 0.5), -128, 127) where v is the
// real value of the op's result computed from its inputs' int8 values and
// fix_points (the DPU's round-half-up). Subgraph attributes steer it:
//   pruneserve_reference_batch      int32, the runner batch (default 1)
//   pruneserve_reference_behaviour  "compute" (default), "fail" (every job
//                                   ends with wait status 1), "hang" (wait
//                                   returns -1 only after its timeout),
//                                   "fail_create" (the factory throws)
//   pruneserve_reference_runner_ext bool, whether the runner is a
//                                   vart::RunnerExt (default true)
// Every runner prints one "pruneserve-reference-runner: created" line to
// stderr, and a job that starts while another is running on the same runner
// fails (runners are not reentrant; the server must not share one).
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vart/runner.hpp>
#include <vart/runner_ext.hpp>
#include <vart/tensor_buffer.hpp>
#include <vector>
#include <xir/attrs/attrs.hpp>
#include <xir/graph/subgraph.hpp>
#include <xir/op/op.hpp>
#include <xir/tensor/tensor.hpp>

namespace {

// Host memory for one runner tensor, all batch rows contiguous.
class ReferenceBuffer : public vart::TensorBuffer {
 public:
  explicit ReferenceBuffer(const xir::Tensor* tensor)
      : vart::TensorBuffer(tensor),
        bytes_(static_cast<size_t>(tensor->get_element_num())) {}

  std::pair<std::uint64_t, std::size_t> data(
      const std::vector<std::int32_t> idx) override {
    size_t offset = 0;
    if (!idx.empty()) {
      const std::vector<std::int32_t> shape = get_tensor()->get_shape();
      size_t stride = 1;
      for (size_t i = shape.size(); i-- > 0;) {
        if (i < idx.size()) offset += static_cast<size_t>(idx[i]) * stride;
        stride *= static_cast<size_t>(shape[i]);
      }
    }
    offset = std::min(offset, bytes_.size());
    return {reinterpret_cast<std::uint64_t>(bytes_.data() + offset),
            bytes_.size() - offset};
  }

 private:
  std::vector<int8_t> bytes_;
};

int FixPoint(const xir::Tensor* t) {
  if (!t->has_attr("fix_point")) {
    throw std::runtime_error("tensor " + t->get_name() + " has no fix_point");
  }
  return t->get_attr<int>("fix_point");
}

int8_t Requantize(double value, int fix_point) {
  const double q = std::floor(std::ldexp(value, fix_point) + 0.5);
  return static_cast<int8_t>(std::max(-128.0, std::min(127.0, q)));
}

double RealValue(int8_t q, int fix_point) {
  return std::ldexp(static_cast<double>(q), -fix_point);
}

// One example's values of every tensor the subgraph touches.
using Values = std::map<const xir::Tensor*, std::vector<int8_t>>;

template <typename Base>
class ReferenceRunner : public Base {
 public:
  explicit ReferenceRunner(const xir::Subgraph* subgraph)
      : subgraph_(subgraph) {
    batch_ =
        subgraph->has_attr("pruneserve_reference_batch")
            ? subgraph->get_attr<std::int32_t>("pruneserve_reference_batch")
            : 1;
    behaviour_ =
        subgraph->has_attr("pruneserve_reference_behaviour")
            ? subgraph->get_attr<std::string>("pruneserve_reference_behaviour")
            : "compute";
    if (behaviour_ == "fail_create") {
      throw std::runtime_error("reference runner told to fail at creation");
    }
    ops_ = subgraph->topological_sort();
    for (const xir::Op* op : ops_) {
      const std::string type = op->get_type();
      if (type != "const-fix" && type != "identity" && type != "eltwise-fix" &&
          type != "reduction_max-fix") {
        throw std::runtime_error("reference runner cannot compute op " +
                                 op->get_name() + " of type " + type);
      }
    }
    for (const xir::Tensor* t : subgraph->get_sorted_input_tensors()) {
      sources_in_.push_back(t);
      inputs_.push_back(RunnerTensor(t));
    }
    for (const xir::Tensor* t : subgraph->get_sorted_output_tensors()) {
      sources_out_.push_back(t);
      outputs_.push_back(RunnerTensor(t));
    }
    for (const auto& t : inputs_) {
      input_buffers_.push_back(std::make_unique<ReferenceBuffer>(t.get()));
    }
    for (const auto& t : outputs_) {
      output_buffers_.push_back(std::make_unique<ReferenceBuffer>(t.get()));
    }
    std::fprintf(stderr,
                 "pruneserve-reference-runner: created for subgraph %s "
                 "(batch %d, %s)\n",
                 subgraph->get_name().c_str(), batch_, behaviour_.c_str());
  }

  ~ReferenceRunner() override {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
    cv_.notify_all();
  }

  std::pair<uint32_t, int> execute_async(
      const std::vector<vart::TensorBuffer*>& input,
      const std::vector<vart::TensorBuffer*>& output) override {
    int status = 0;
    if (busy_.exchange(true)) {
      std::fprintf(stderr,
                   "pruneserve-reference-runner: concurrent jobs on one "
                   "runner\n");
      status = 2;
    } else {
      if (behaviour_ == "compute") status = Compute(input, output);
      if (behaviour_ == "fail") status = 1;
      busy_ = false;
    }
    std::lock_guard<std::mutex> lock(mu_);
    const uint32_t id = next_job_++;
    jobs_[id] = status;
    return {id, 0};
  }

  int wait(int jobid, int timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    auto job = jobs_.find(static_cast<uint32_t>(jobid));
    if (job == jobs_.end()) return -2;
    if (behaviour_ == "hang") {
      auto done = [this] { return closing_; };
      if (timeout < 0) {
        cv_.wait(lock, done);
      } else {
        cv_.wait_for(lock, std::chrono::milliseconds(timeout), done);
      }
      jobs_.erase(job);
      return -1;
    }
    const int status = job->second;
    jobs_.erase(job);
    return status;
  }

  std::vector<const xir::Tensor*> get_input_tensors() override {
    return Raw(inputs_);
  }
  std::vector<const xir::Tensor*> get_output_tensors() override {
    return Raw(outputs_);
  }
  // vart::RunnerExt's buffers; overrides when Base is vart::RunnerExt,
  // unused otherwise.
  std::vector<vart::TensorBuffer*> get_inputs() { return Raw(input_buffers_); }
  std::vector<vart::TensorBuffer*> get_outputs() {
    return Raw(output_buffers_);
  }

 private:
  // The subgraph's tensor with the runner batch, as a DPU runner reports
  // its tensors.
  std::unique_ptr<xir::Tensor> RunnerTensor(const xir::Tensor* t) const {
    std::vector<std::int32_t> shape = t->get_shape();
    shape[0] = batch_;
    auto tensor = xir::Tensor::create(t->get_name(), shape,
                                      xir::DataType{xir::DataType::XINT, 8});
    tensor->set_attr<int>("fix_point", FixPoint(t));
    return tensor;
  }

  template <typename T>
  static std::vector<T*> Raw(const std::vector<std::unique_ptr<T>>& v) {
    std::vector<T*> out;
    for (const auto& p : v) out.push_back(p.get());
    return out;
  }
  static std::vector<const xir::Tensor*> Raw(
      const std::vector<std::unique_ptr<xir::Tensor>>& v) {
    std::vector<const xir::Tensor*> out;
    for (const auto& p : v) out.push_back(p.get());
    return out;
  }

  static vart::TensorBuffer* FindBuffer(
      const std::vector<vart::TensorBuffer*>& buffers,
      const std::string& name) {
    for (vart::TensorBuffer* b : buffers) {
      if (b->get_tensor()->get_name() == name) return b;
    }
    return nullptr;
  }

  static int8_t* Row(vart::TensorBuffer* buffer, int row, size_t bytes) {
    std::vector<std::int32_t> idx(buffer->get_tensor()->get_shape().size(), 0);
    idx[0] = row;
    auto data = buffer->data(idx);
    if (data.first == 0 || data.second < bytes) return nullptr;
    return reinterpret_cast<int8_t*>(data.first);
  }

  // 0 on success, 3 when a buffer is missing or too small.
  int Compute(const std::vector<vart::TensorBuffer*>& input,
              const std::vector<vart::TensorBuffer*>& output) {
    for (int row = 0; row < batch_; ++row) {
      Values values;
      for (size_t i = 0; i < inputs_.size(); ++i) {
        const size_t n = static_cast<size_t>(sources_in_[i]->get_element_num());
        vart::TensorBuffer* b = FindBuffer(input, inputs_[i]->get_name());
        int8_t* src = b ? Row(b, row, n) : nullptr;
        if (src == nullptr) return 3;
        values[sources_in_[i]].assign(src, src + n);
      }
      for (const xir::Op* op : ops_) Evaluate(op, values);
      for (size_t o = 0; o < outputs_.size(); ++o) {
        const std::vector<int8_t>& v = values[sources_out_[o]];
        vart::TensorBuffer* b = FindBuffer(output, outputs_[o]->get_name());
        int8_t* dst = b ? Row(b, row, v.size()) : nullptr;
        if (dst == nullptr) return 3;
        std::memcpy(dst, v.data(), v.size());
      }
    }
    return 0;
  }

  static void Evaluate(const xir::Op* op, Values& values) {
    const xir::Tensor* out = op->get_output_tensor();
    const int out_fp = FixPoint(out);
    std::vector<int8_t>& result = values[out];
    result.assign(static_cast<size_t>(out->get_element_num()), 0);
    const std::string type = op->get_type();
    if (type == "const-fix") {
      const auto data = op->get_attr<std::vector<char>>("data");
      for (size_t i = 0; i < result.size() && i < data.size(); ++i) {
        result[i] = static_cast<int8_t>(data[i]);
      }
      return;
    }
    std::vector<const xir::Tensor*> in = op->get_input_tensors();
    if (type == "identity") {
      const int fp = FixPoint(in[0]);
      const std::vector<int8_t>& a = values[in[0]];
      for (size_t i = 0; i < result.size(); ++i) {
        result[i] = Requantize(RealValue(a[i], fp), out_fp);
      }
    } else if (type == "eltwise-fix") {
      for (size_t i = 0; i < result.size(); ++i) {
        double sum = 0;
        for (const xir::Tensor* t : in) {
          sum += RealValue(values[t][i], FixPoint(t));
        }
        result[i] = Requantize(sum, out_fp);
      }
    } else if (type == "reduction_max-fix") {
      // Max over the `axis` dims of the input; the output keeps the other
      // dims in order.
      const std::vector<std::int32_t> shape = in[0]->get_shape();
      const auto axis = op->get_attr<std::vector<std::int32_t>>("axis");
      std::vector<bool> reduced(shape.size(), false);
      for (std::int32_t a : axis) reduced[static_cast<size_t>(a)] = true;
      const int fp = FixPoint(in[0]);
      const std::vector<int8_t>& a = values[in[0]];
      std::vector<double> best(result.size(), -1e30);
      std::vector<std::int32_t> index(shape.size(), 0);
      for (size_t flat = 0; flat < a.size(); ++flat) {
        size_t rest = flat;
        for (size_t d = shape.size(); d-- > 0;) {
          index[d] = static_cast<std::int32_t>(rest % shape[d]);
          rest /= shape[d];
        }
        size_t target = 0;
        for (size_t d = 0; d < shape.size(); ++d) {
          if (!reduced[d]) target = target * shape[d] + index[d];
        }
        best[target] = std::max(best[target], RealValue(a[flat], fp));
      }
      for (size_t i = 0; i < result.size(); ++i) {
        result[i] = Requantize(best[i], out_fp);
      }
    }
  }

  const xir::Subgraph* subgraph_;
  int batch_ = 1;
  std::string behaviour_;
  std::vector<const xir::Op*> ops_;
  std::vector<const xir::Tensor*> sources_in_;
  std::vector<const xir::Tensor*> sources_out_;
  std::vector<std::unique_ptr<xir::Tensor>> inputs_;
  std::vector<std::unique_ptr<xir::Tensor>> outputs_;
  std::vector<std::unique_ptr<vart::TensorBuffer>> input_buffers_;
  std::vector<std::unique_ptr<vart::TensorBuffer>> output_buffers_;
  std::atomic<bool> busy_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool closing_ = false;          // guarded by mu_
  uint32_t next_job_ = 1;         // guarded by mu_
  std::map<uint32_t, int> jobs_;  // guarded by mu_; id -> wait status
};

}  // namespace

// The symbol vart::Runner::create_runner_with_attrs looks up.
extern "C" vart::Runner* create_runner_with_attrs(const xir::Subgraph* subgraph,
                                                  xir::Attrs* /*attrs*/) {
  const bool ext = !subgraph->has_attr("pruneserve_reference_runner_ext") ||
                   subgraph->get_attr<bool>("pruneserve_reference_runner_ext");
  if (ext) return new ReferenceRunner<vart::RunnerExt>(subgraph);
  return new ReferenceRunner<vart::Runner>(subgraph);
}
