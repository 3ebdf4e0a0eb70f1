// Human and machine output for prunectl: aligned text tables, byte and count
// formatting, a terminal progress bar, and proto → JSON.
#ifndef PRUNESERVE_CLIENT_OUTPUT_FORMAT_H_
#define PRUNESERVE_CLIENT_OUTPUT_FORMAT_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "google/protobuf/message.h"
#include "pruneserve/v1/model.pb.h"

namespace pruneserve::client {

// Collects rows and prints them with columns padded to their widest cell.
// Not thread-safe.
class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header)
      : header_(std::move(header)) {}
  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string Render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// "1.5 MiB", "512 B".
std::string HumanBytes(int64_t bytes);
// "1.23M", "456.7K", "42".
std::string HumanCount(int64_t count);
// "[1,1,28,28]" or "-" when empty.
std::string ShapeString(const google::protobuf::RepeatedField<int64_t>& dims);
// Local time "2026-11-27 10:00:00" from Unix milliseconds.
std::string TimeString(int64_t unix_ms);
// "torchscript" / "xmodel".
std::string FormatName(v1::ModelFormat format);

// Proto JSON (field names as in the .proto), pretty-printed.
std::string ToJson(const google::protobuf::Message& message);

// Key: value lines describing one model version.
std::string DescribeModel(const v1::ModelVersion& model);

// Draws "\r[#####     ] 42% 1.2/3.0 MiB" on `out` when it is a terminal;
// does nothing otherwise. Not thread-safe.
class ProgressBar {
 public:
  explicit ProgressBar(FILE* out);
  void Update(int64_t done, int64_t total);
  // Ends the line if anything was drawn.
  void Finish();

 private:
  FILE* out_;
  bool enabled_;
  bool drawn_ = false;
  int last_percent_ = -1;
};

}  // namespace pruneserve::client

#endif  // PRUNESERVE_CLIENT_OUTPUT_FORMAT_H_
