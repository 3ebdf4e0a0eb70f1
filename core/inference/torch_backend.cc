#include "core/inference/torch_backend.h"

#include <torch/script.h>

#include "absl/strings/str_cat.h"
#include "core/util/torch_status.h"

namespace pruneserve::inference {
namespace {

// Flattens forward()'s result (tensor, tuple or list of tensors) into
// tensors, in order.
void CollectTensors(const c10::IValue& v, std::vector<at::Tensor>* out) {
  if (v.isTensor()) {
    out->push_back(v.toTensor());
  } else if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) CollectTensors(e, out);
  } else if (v.isList()) {
    for (const auto& e : v.toListRef()) CollectTensors(e, out);
  }
}

HostTensor ToHost(const std::string& name, const at::Tensor& t) {
  at::Tensor f = t.to(at::kFloat).contiguous();
  HostTensor h;
  h.name = name;
  h.dtype = DataType::kFp32;
  h.shape.assign(f.sizes().begin(), f.sizes().end());
  h.bytes.assign(static_cast<const char*>(f.data_ptr()),
                 static_cast<size_t>(f.numel()) * sizeof(float));
  return h;
}

std::string OutputName(size_t i) { return absl::StrCat("output__", i); }

class TorchSession : public BackendSession {
 public:
  explicit TorchSession(torch::jit::Module module)
      : module_(std::move(module)) {}

  absl::StatusOr<std::vector<HostTensor>> Run(
      const std::vector<HostTensor>& inputs) override {
    std::vector<c10::IValue> args;
    try {
      c10::InferenceMode guard;
      for (const HostTensor& in : inputs) {
        if (in.dtype != DataType::kFp32) {
          return absl::InvalidArgumentError(
              absl::StrCat("input ", in.name, " must be FP32"));
        }
        args.emplace_back(torch::from_blob(const_cast<char*>(in.bytes.data()),
                                           in.shape, at::kFloat));
      }
      std::vector<at::Tensor> tensors;
      CollectTensors(module_.forward(args), &tensors);
      std::vector<HostTensor> out;
      for (size_t i = 0; i < tensors.size(); ++i) {
        out.push_back(ToHost(OutputName(i), tensors[i]));
      }
      return out;
    } catch (const std::exception& e) {
      std::string shapes;
      for (const HostTensor& in : inputs)
        absl::StrAppend(&shapes, ShapeToString(in.shape));
      return TorchErrorToStatus(e, absl::StrCat("forward on ", shapes));
    }
  }

 private:
  torch::jit::Module module_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TorchBackend>> TorchBackend::Create(
    TorchBackendOptions options) {
  auto backend =
      std::unique_ptr<TorchBackend>(new TorchBackend(std::move(options)));
  torch::jit::Module module;
  try {
    module = torch::jit::load(backend->options_.path, torch::kCPU);
    module.eval();
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "cannot load TorchScript for serving");
  }
  const auto& schema = module.get_method("forward").function().getSchema();
  const size_t num_inputs = schema.arguments().size() - 1;
  const auto& example = backend->options_.example_input_shape;
  for (size_t i = 0; i < num_inputs; ++i) {
    TensorSpec spec;
    spec.name = absl::StrCat("input__", i);
    if (num_inputs == 1 && !example.empty()) {
      spec.shape = example;
      spec.shape[0] = -1;
    }
    backend->inputs_.push_back(spec);
  }
  if (num_inputs == 1 && !example.empty()) {
    try {
      c10::InferenceMode guard;
      std::vector<at::Tensor> outs;
      CollectTensors(module.forward({torch::zeros(example)}), &outs);
      for (size_t i = 0; i < outs.size(); ++i) {
        TensorSpec spec;
        spec.name = OutputName(i);
        spec.shape.assign(outs[i].sizes().begin(), outs[i].sizes().end());
        if (!spec.shape.empty()) spec.shape[0] = -1;
        backend->outputs_.push_back(spec);
      }
    } catch (const std::exception& e) {
      return TorchErrorToStatus(
          e, absl::StrCat("forward on example ", ShapeToString(example)));
    }
  }
  return backend;
}

absl::StatusOr<std::unique_ptr<BackendSession>> TorchBackend::CreateSession() {
  try {
    torch::jit::Module module = torch::jit::load(options_.path, torch::kCPU);
    module.eval();
    return std::unique_ptr<BackendSession>(new TorchSession(std::move(module)));
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "cannot load TorchScript session",
                              absl::StatusCode::kInternal);
  }
}

}  // namespace pruneserve::inference
