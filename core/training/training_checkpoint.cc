// Encoding and restoring of trainer state; see training_checkpoint.h.
#include "core/training/training_checkpoint.h"

#include <torch/script.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/util/torch_status.h"

namespace pruneserve::training {
namespace {

constexpr int64_t kFormatVersion = 1;

struct NamedTensors {
  std::vector<std::string> names;
  std::vector<torch::Tensor> tensors;
};

NamedTensors ModelParameters(const torch::jit::Module& model) {
  NamedTensors out;
  for (const auto& p : model.named_parameters(/*recurse=*/true)) {
    out.names.push_back(p.name);
    out.tensors.push_back(p.value);
  }
  return out;
}

NamedTensors ModelBuffers(const torch::jit::Module& model) {
  NamedTensors out;
  for (const auto& b : model.named_buffers(/*recurse=*/true)) {
    out.names.push_back(b.name);
    out.tensors.push_back(b.value);
  }
  return out;
}

c10::List<std::string> StringList(const std::vector<std::string>& v) {
  c10::List<std::string> list;
  for (const auto& s : v) list.push_back(s);
  return list;
}

c10::List<torch::Tensor> TensorList(const std::vector<torch::Tensor>& v) {
  c10::List<torch::Tensor> list;
  for (const auto& t : v) list.push_back(t.detach().clone());
  return list;
}

c10::List<double> DoubleList(const std::vector<double>& v) {
  c10::List<double> list;
  for (double d : v) list.push_back(d);
  return list;
}

std::string Shape(const torch::Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.sizes(), ","), "]");
}

// Checks that saved (names, tensors) line up with the live ones.
absl::Status CheckCompatible(const char* what, const NamedTensors& live,
                             const c10::List<std::string>& names,
                             const c10::List<torch::Tensor>& tensors) {
  if (names.size() != live.names.size() || tensors.size() != names.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint has ", names.size(), " ", what, ", model has ",
                     live.names.size()));
  }
  for (size_t i = 0; i < live.names.size(); ++i) {
    const std::string saved_name = names.get(i);
    const torch::Tensor saved = tensors.get(i);
    if (saved_name != live.names[i]) {
      return absl::FailedPreconditionError(
          absl::StrCat("checkpoint ", what, " #", i, " is '", saved_name,
                       "', model has '", live.names[i], "'"));
    }
    if (saved.sizes() != live.tensors[i].sizes() ||
        saved.scalar_type() != live.tensors[i].scalar_type()) {
      return absl::FailedPreconditionError(
          absl::StrCat("checkpoint ", what, " '", saved_name, "' is ",
                       Shape(saved), " ", c10::toString(saved.scalar_type()),
                       ", model has ", Shape(live.tensors[i]), " ",
                       c10::toString(live.tensors[i].scalar_type())));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> EncodeTrainingState(
    const torch::jit::Module& model, const torch::optim::SGD& optimizer,
    const TrainingPosition& position) {
  try {
    torch::NoGradGuard no_grad;
    const NamedTensors params = ModelParameters(model);
    const NamedTensors buffers = ModelBuffers(model);

    std::vector<torch::Tensor> momentum;
    c10::List<bool> has_momentum;
    const auto& state = optimizer.state();
    for (const auto& group : optimizer.param_groups()) {
      for (const auto& p : group.params()) {
        auto it = state.find(c10::guts::to_string(p.unsafeGetTensorImpl()));
        const auto* sgd_state =
            it == state.end()
                ? nullptr
                : dynamic_cast<const torch::optim::SGDParamState*>(
                      it->second.get());
        const bool has =
            sgd_state != nullptr && sgd_state->momentum_buffer().defined();
        has_momentum.push_back(has);
        momentum.push_back(has ? sgd_state->momentum_buffer()
                               : torch::empty({0}));
      }
    }

    c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
    auto put = [&dict](const char* key, c10::IValue value) {
      dict.insert(c10::IValue(std::string(key)), std::move(value));
    };
    put("format", kFormatVersion);
    put("epochs_completed", position.epochs_completed);
    put("global_step", position.global_step);
    put("seed", static_cast<int64_t>(position.seed));
    put("schedule", position.schedule);
    put("epoch_train_loss", DoubleList(position.epoch_train_loss));
    put("epoch_train_accuracy", DoubleList(position.epoch_train_accuracy));
    put("param_names", StringList(params.names));
    put("params", TensorList(params.tensors));
    put("buffer_names", StringList(buffers.names));
    put("buffers", TensorList(buffers.tensors));
    put("has_momentum", has_momentum);
    put("momentum", TensorList(momentum));
    std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
    return std::string(bytes.begin(), bytes.end());
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "encode training checkpoint",
                              absl::StatusCode::kInternal);
  }
}

absl::StatusOr<TrainingPosition> RestoreTrainingState(
    absl::string_view payload, torch::jit::Module* model,
    torch::optim::SGD* optimizer) {
  c10::impl::GenericDict dict{c10::StringType::get(), c10::AnyType::get()};
  try {
    std::vector<char> bytes(payload.begin(), payload.end());
    dict = torch::pickle_load(bytes).toGenericDict();
    if (dict.at("format").toInt() != kFormatVersion) {
      return absl::DataLossError(absl::StrCat("unknown checkpoint format ",
                                              dict.at("format").toInt()));
    }
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "decode training checkpoint",
                              absl::StatusCode::kDataLoss);
  }

  try {
    torch::NoGradGuard no_grad;
    const NamedTensors params = ModelParameters(*model);
    const NamedTensors buffers = ModelBuffers(*model);
    auto param_names =
        c10::impl::toTypedList<std::string>(dict.at("param_names").toList());
    auto saved_params = dict.at("params").toTensorList();
    auto buffer_names =
        c10::impl::toTypedList<std::string>(dict.at("buffer_names").toList());
    auto saved_buffers = dict.at("buffers").toTensorList();
    auto has_momentum = dict.at("has_momentum").toBoolList();
    auto momentum = dict.at("momentum").toTensorList();

    absl::Status ok =
        CheckCompatible("parameters", params, param_names, saved_params);
    if (!ok.ok()) return ok;
    ok = CheckCompatible("buffers", buffers, buffer_names, saved_buffers);
    if (!ok.ok()) return ok;

    std::vector<torch::Tensor> opt_params;
    for (const auto& group : optimizer->param_groups()) {
      for (const auto& p : group.params()) opt_params.push_back(p);
    }
    if (opt_params.size() != has_momentum.size() ||
        momentum.size() != has_momentum.size()) {
      return absl::FailedPreconditionError(
          absl::StrCat("checkpoint has momentum for ", has_momentum.size(),
                       " parameters, optimizer has ", opt_params.size()));
    }
    for (size_t i = 0; i < opt_params.size(); ++i) {
      if (has_momentum.get(i) &&
          momentum.get(i).sizes() != opt_params[i].sizes()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "checkpoint momentum #", i, " is ", Shape(momentum.get(i)),
            ", parameter is ", Shape(opt_params[i])));
      }
    }

    // Everything verified; now mutate.
    for (size_t i = 0; i < params.tensors.size(); ++i) {
      params.tensors[i].copy_(saved_params.get(i));
    }
    for (size_t i = 0; i < buffers.tensors.size(); ++i) {
      buffers.tensors[i].copy_(saved_buffers.get(i));
    }
    auto& state = optimizer->state();
    for (size_t i = 0; i < opt_params.size(); ++i) {
      const std::string key =
          c10::guts::to_string(opt_params[i].unsafeGetTensorImpl());
      if (!has_momentum.get(i)) {
        state.erase(key);
        continue;
      }
      auto param_state = std::make_unique<torch::optim::SGDParamState>();
      param_state->momentum_buffer(momentum.get(i).clone());
      state[key] = std::move(param_state);
    }

    TrainingPosition position;
    position.epochs_completed = dict.at("epochs_completed").toInt();
    position.global_step = dict.at("global_step").toInt();
    position.seed = static_cast<uint64_t>(dict.at("seed").toInt());
    position.schedule = dict.at("schedule").toStringRef();
    for (double d : dict.at("epoch_train_loss").toDoubleList()) {
      position.epoch_train_loss.push_back(d);
    }
    for (double d : dict.at("epoch_train_accuracy").toDoubleList()) {
      position.epoch_train_accuracy.push_back(d);
    }
    return position;
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, "restore training checkpoint",
                              absl::StatusCode::kDataLoss);
  }
}

}  // namespace pruneserve::training
