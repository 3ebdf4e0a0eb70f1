#include "client/output_format.h"

#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"

namespace pruneserve::client {

std::string TextTable::Render() const {
  std::vector<size_t> widths(header_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  };
  measure(header_);
  for (const auto& row : rows_) measure(row);
  auto render_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < widths.size(); ++i) {
      std::string cell = i < row.size() ? row[i] : "";
      if (i + 1 < widths.size()) cell.resize(widths[i], ' ');
      absl::StrAppend(&line, i ? "  " : "", cell);
    }
    return line + "\n";
  };
  std::string out = render_row(header_);
  for (const auto& row : rows_) out += render_row(row);
  return out;
}

std::string HumanBytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? absl::StrCat(bytes, " B")
                : absl::StrFormat("%.1f %s", v, units[u]);
}

std::string HumanCount(int64_t count) {
  double v = static_cast<double>(count);
  if (count >= 1000000000) return absl::StrFormat("%.2fG", v / 1e9);
  if (count >= 1000000) return absl::StrFormat("%.2fM", v / 1e6);
  if (count >= 1000) return absl::StrFormat("%.1fK", v / 1e3);
  return absl::StrCat(count);
}

std::string ShapeString(const google::protobuf::RepeatedField<int64_t>& dims) {
  if (dims.empty()) return "-";
  return absl::StrCat("[", absl::StrJoin(dims, ","), "]");
}

std::string TimeString(int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string FormatName(v1::ModelFormat format) {
  switch (format) {
    case v1::MODEL_FORMAT_TORCHSCRIPT:
      return "torchscript";
    case v1::MODEL_FORMAT_XMODEL:
      return "xmodel";
    default:
      return "unspecified";
  }
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

std::string DescribeModel(const v1::ModelVersion& m) {
  std::string out;
  auto line = [&](absl::string_view key, const std::string& value) {
    absl::StrAppend(&out, absl::StrFormat("%-20s %s\n", key, value));
  };
  line("name:", m.name());
  line("version:", absl::StrCat(m.version()));
  line("format:", FormatName(m.format()));
  if (!m.description().empty()) line("description:", m.description());
  line("sha256:", m.sha256());
  if (m.corrupt()) {
    line("state:",
         "CORRUPT (stored bytes missing or altered; upload the same file "
         "again to repair, or delete)");
  }
  switch (m.validation()) {
    case v1::MODEL_VALIDATION_PASSED:
      line("validation:", "passed");
      break;
    case v1::MODEL_VALIDATION_FAILED:
      line("validation:",
           absl::StrCat("FAILED (not loaded): ", m.validation_error()));
      break;
    default:
      line("validation:", "not yet (checked before its first load)");
      break;
  }
  line("size:", absl::StrCat(HumanBytes(m.size_bytes()), " (", m.size_bytes(),
                             " bytes)"));
  line("created:", TimeString(m.created_unix_ms()));
  line("parameters:",
       absl::StrCat(HumanCount(m.parameter_count()), " (", m.parameter_count(),
                    ", ", HumanBytes(m.parameter_bytes()), ")"));
  line("forward inputs:", absl::StrCat(m.forward_input_count()));
  line("example input:", ShapeString(m.example_input_shape()));
  line("output shape:", ShapeString(m.output_shape()));
  line("FLOPs (MACs):",
       m.flops() > 0 ? absl::StrCat(HumanCount(m.flops()), " (", m.flops(), ")")
                     : "-");
  if (m.has_lineage()) {
    line("parent:", absl::StrCat(m.lineage().parent_name(), ":",
                                 m.lineage().parent_version()));
    line("job:", m.lineage().job_id());
    line("policy:", m.lineage().policy());
  }
  return out;
}

ProgressBar::ProgressBar(FILE* out)
    : out_(out), enabled_(::isatty(::fileno(out)) != 0) {}

void ProgressBar::Update(int64_t done, int64_t total) {
  if (!enabled_ || total <= 0) return;
  int percent = static_cast<int>(100 * done / total);
  if (percent == last_percent_) return;
  last_percent_ = percent;
  constexpr int kWidth = 30;
  int filled = percent * kWidth / 100;
  std::fprintf(out_, "\r[%s%s] %3d%% %s / %s", std::string(filled, '#').c_str(),
               std::string(kWidth - filled, ' ').c_str(), percent,
               HumanBytes(done).c_str(), HumanBytes(total).c_str());
  std::fflush(out_);
  drawn_ = true;
}

void ProgressBar::Finish() {
  if (drawn_) std::fprintf(out_, "\n");
  drawn_ = false;
}

}  // namespace pruneserve::client
