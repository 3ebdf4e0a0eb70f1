#include "server/kserve_codec.h"

#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace pruneserve {
namespace {

using inference::DataType;
using inference::HostTensor;

template <typename Out, typename In>
absl::Status Pack(const google::protobuf::RepeatedField<In>& values,
                  const std::string& name, std::string* bytes) {
  bytes->resize(values.size() * sizeof(Out));
  Out* dst = reinterpret_cast<Out*>(bytes->data());
  for (int i = 0; i < values.size(); ++i) {
    if constexpr (std::is_integral_v<Out> && sizeof(Out) < sizeof(In)) {
      if (values[i] < static_cast<In>(std::numeric_limits<Out>::min()) ||
          values[i] > static_cast<In>(std::numeric_limits<Out>::max())) {
        return absl::InvalidArgumentError(
            absl::StrCat("input \"", name, "\" element ", i, " = ", values[i],
                         " is out of range for its datatype"));
      }
    }
    dst[i] = static_cast<Out>(values[i]);
  }
  return absl::OkStatus();
}

// Values of the typed field that `dtype` uses.
int64_t TypedCount(const ::inference::InferTensorContents& c, DataType dtype) {
  switch (dtype) {
    case DataType::kFp32:
      return c.fp32_contents_size();
    case DataType::kFp64:
      return c.fp64_contents_size();
    case DataType::kUint8:
      return c.uint_contents_size();
    case DataType::kInt8:
    case DataType::kInt32:
      return c.int_contents_size();
    case DataType::kInt64:
      return c.int64_contents_size();
  }
  return 0;
}

absl::Status DecodeTyped(const ::inference::InferTensorContents& c,
                         HostTensor* t) {
  switch (t->dtype) {
    case DataType::kFp32:
      return Pack<float>(c.fp32_contents(), t->name, &t->bytes);
    case DataType::kFp64:
      return Pack<double>(c.fp64_contents(), t->name, &t->bytes);
    case DataType::kUint8:
      return Pack<uint8_t>(c.uint_contents(), t->name, &t->bytes);
    case DataType::kInt8:
      return Pack<int8_t>(c.int_contents(), t->name, &t->bytes);
    case DataType::kInt32:
      return Pack<int32_t>(c.int_contents(), t->name, &t->bytes);
    case DataType::kInt64:
      return Pack<int64_t>(c.int64_contents(), t->name, &t->bytes);
  }
  return absl::InternalError("unhandled datatype");
}

}  // namespace

absl::StatusOr<int64_t> ParseModelVersion(const std::string& version) {
  if (version.empty()) return 0;
  int64_t v = 0;
  if (!absl::SimpleAtoi(version, &v) || v <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model version \"", version, "\" is not a positive integer"));
  }
  return v;
}

absl::StatusOr<KServeInputSource> KServeInputSource::Create(
    const ::inference::ModelInferRequest& request) {
  const bool raw = request.raw_input_contents_size() > 0;
  if (raw && request.raw_input_contents_size() != request.inputs_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "raw_input_contents has ", request.raw_input_contents_size(),
        " entries for ", request.inputs_size(), " inputs"));
  }
  return KServeInputSource(&request);
}

inference::DeclaredInput KServeInputSource::Declared(int i) const {
  const auto& in = request_->inputs(i);
  return {in.name(), in.datatype(),
          absl::MakeConstSpan(in.shape().data(), in.shape().size())};
}

absl::StatusOr<HostTensor> KServeInputSource::Decode(
    int i, const inference::AdmittedInput& admitted) const {
  const auto& in = request_->inputs(i);
  HostTensor t;
  t.name = in.name();
  t.dtype = admitted.dtype;
  const int64_t size = inference::DataTypeSize(admitted.dtype);
  if (request_->raw_input_contents_size() > 0) {
    if (in.has_contents()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input \"", in.name(),
          "\" has typed contents while raw_input_contents is used"));
    }
    const std::string& bytes = request_->raw_input_contents(i);
    if (static_cast<int64_t>(bytes.size()) != admitted.elements * size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input \"", in.name(), "\" ", in.datatype(),
          inference::ShapeToString(
              absl::MakeConstSpan(in.shape().data(), in.shape().size())),
          " needs ", admitted.elements * size, " bytes; got ", bytes.size()));
    }
    t.shape.assign(in.shape().begin(), in.shape().end());
    t.bytes = bytes;
    return t;
  }
  const int64_t values = TypedCount(in.contents(), admitted.dtype);
  if (values != admitted.elements) {
    return absl::InvalidArgumentError(
        absl::StrCat("input \"", in.name(), "\" ", in.datatype(),
                     inference::ShapeToString(absl::MakeConstSpan(
                         in.shape().data(), in.shape().size())),
                     " needs ", admitted.elements, " values; got ", values));
  }
  t.shape.assign(in.shape().begin(), in.shape().end());
  absl::Status s = DecodeTyped(in.contents(), &t);
  if (!s.ok()) return s;
  return t;
}

absl::Status EncodeOutputs(const ::inference::ModelInferRequest& request,
                           std::vector<HostTensor> outputs, bool raw,
                           ::inference::ModelInferResponse* response) {
  std::vector<HostTensor*> selected;
  if (request.outputs_size() == 0) {
    for (auto& o : outputs) selected.push_back(&o);
  } else {
    for (const auto& wanted : request.outputs()) {
      HostTensor* found = nullptr;
      for (auto& o : outputs) {
        if (o.name == wanted.name()) found = &o;
      }
      if (!found) {
        return absl::InvalidArgumentError(absl::StrCat(
            "requested output \"", wanted.name(), "\" does not exist"));
      }
      selected.push_back(found);
    }
  }
  for (HostTensor* o : selected) {
    auto* t = response->add_outputs();
    t->set_name(o->name);
    t->set_datatype(inference::DataTypeName(o->dtype));
    for (int64_t d : o->shape) t->add_shape(d);
    if (raw) {
      response->add_raw_output_contents(std::move(o->bytes));
    } else {
      const float* v = reinterpret_cast<const float*>(o->bytes.data());
      t->mutable_contents()->mutable_fp32_contents()->Add(
          v, v + o->bytes.size() / sizeof(float));
    }
  }
  return absl::OkStatus();
}

}  // namespace pruneserve
