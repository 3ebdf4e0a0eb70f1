#include "client/dataset_client.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/repository_client.h"
#include "core/spec/dataset_format_names.h"

namespace pruneserve::client {
namespace {

namespace fs = std::filesystem;

bool IsIdxName(const std::string& n) {
  static const std::regex re(
      "(train|t10k)-(images-idx3|labels-idx1)-ubyte(\\.gz)?");
  return std::regex_match(n, re);
}
bool IsCifar10Name(const std::string& n) {
  static const std::regex re("data_batch_[1-5]\\.bin|test_batch\\.bin");
  return std::regex_match(n, re);
}
bool IsCifar100Name(const std::string& n) {
  return n == "train.bin" || n == "test.bin";
}
bool IsImageName(const std::string& n) {
  const std::string ext =
      absl::AsciiStrToLower(fs::path(n).extension().string());
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" ||
         ext == ".pgm" || ext == ".ppm";
}

// The files of `dir` the format uses, as (path, name in the archive).
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> FilesToPack(
    const std::string& dir, v1::DatasetFormat format) {
  std::vector<std::pair<std::string, std::string>> out;
  std::error_code ec;
  if (format == v1::DATASET_FORMAT_IMAGEFOLDER) {
    for (auto it = fs::recursive_directory_iterator(
             dir, fs::directory_options::follow_directory_symlink, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file() || !IsImageName(it->path().string())) {
        continue;
      }
      out.emplace_back(it->path().string(),
                       fs::relative(it->path(), dir).generic_string());
    }
  } else {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string name = entry.path().filename().string();
      const bool wanted =
          format == v1::DATASET_FORMAT_CIFAR10    ? IsCifar10Name(name)
          : format == v1::DATASET_FORMAT_CIFAR100 ? IsCifar100Name(name)
                                                  : IsIdxName(name);
      if (wanted && entry.is_regular_file()) {
        out.emplace_back(entry.path().string(), name);
      }
    }
  }
  if (ec) {
    return absl::NotFoundError(
        absl::StrCat("cannot list ", dir, ": ", ec.message()));
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, " holds no files of the data set's format"));
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.second < b.second; });
  return out;
}

// A client-streaming upload in progress: Send() writes one chunk.
class UploadStream {
 public:
  UploadStream(v1::Datasets::Stub& stub, const v1::UploadDatasetHeader& header)
      : writer_(stub.UploadDataset(&context_, &response_)) {
    v1::UploadDatasetRequest request;
    *request.mutable_header() = header;
    open_ = writer_->Write(request);
  }
  // False once the server has answered (e.g. a limit); Finish() says why.
  bool Send(const char* data, size_t n) {
    if (!open_) return false;
    request_.set_chunk(data, n);
    open_ = writer_->Write(request_);
    sent_ += static_cast<int64_t>(n);
    return open_;
  }
  absl::StatusOr<v1::Dataset> Finish() {
    writer_->WritesDone();
    grpc::Status status = writer_->Finish();
    if (!status.ok()) return FromGrpcStatus(status);
    return response_.dataset();
  }
  int64_t sent() const { return sent_; }

 private:
  grpc::ClientContext context_;
  v1::UploadDatasetResponse response_;
  std::unique_ptr<grpc::ClientWriter<v1::UploadDatasetRequest>> writer_;
  v1::UploadDatasetRequest request_;
  bool open_ = false;
  int64_t sent_ = 0;
};

struct PackState {
  UploadStream* stream;
  const std::function<void(int64_t)>* progress;
  std::string pending;
  size_t chunk_bytes;
};

la_ssize_t WriteCallback(archive*, void* data, const void* buffer,
                         size_t length) {
  auto* s = static_cast<PackState*>(data);
  s->pending.append(static_cast<const char*>(buffer), length);
  while (s->pending.size() >= s->chunk_bytes) {
    if (!s->stream->Send(s->pending.data(), s->chunk_bytes)) return -1;
    s->pending.erase(0, s->chunk_bytes);
    if (*s->progress) (*s->progress)(s->stream->sent());
  }
  return static_cast<la_ssize_t>(length);
}

// Packs the files into a pax tar streamed through `stream`. The server's
// answer (Finish) carries the reason when the stream closed early.
absl::Status Pack(const std::vector<std::pair<std::string, std::string>>& files,
                  UploadStream& stream, size_t chunk_bytes,
                  const std::function<void(int64_t)>& progress) {
  PackState state{&stream, &progress, {}, chunk_bytes};
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_in_last_block(a, 1);
  if (archive_write_open(a, &state, nullptr, WriteCallback, nullptr) !=
      ARCHIVE_OK) {
    absl::Status s = absl::InternalError(
        absl::StrCat("libarchive: ", archive_error_string(a)));
    archive_write_free(a);
    return s;
  }
  std::string buffer(1 << 16, '\0');
  absl::Status result;
  for (const auto& [path, name] : files) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      result = absl::NotFoundError(absl::StrCat("cannot stat ", path));
      break;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      result = absl::NotFoundError(absl::StrCat("cannot open ", path));
      break;
    }
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, name.c_str());
    archive_entry_set_size(entry, st.st_size);
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    archive_entry_set_mtime(entry, st.st_mtime, 0);
    bool ok = archive_write_header(a, entry) == ARCHIVE_OK;
    archive_entry_free(entry);
    int64_t left = st.st_size;
    while (ok && left > 0) {
      in.read(buffer.data(), static_cast<std::streamsize>(
                                 std::min<int64_t>(left, buffer.size())));
      const std::streamsize n = in.gcount();
      if (n <= 0) break;
      ok = archive_write_data(a, buffer.data(), n) == n;
      left -= n;
    }
    if (!ok) break;  // the server answered early; Finish() says why
  }
  archive_write_close(a);
  archive_write_free(a);
  if (result.ok() && !state.pending.empty()) {
    stream.Send(state.pending.data(), state.pending.size());
    if (progress) progress(stream.sent());
  }
  return result;
}

}  // namespace

absl::StatusOr<v1::DatasetFormat> ParseDatasetFormat(const std::string& name) {
  if (auto format = spec::DatasetFormatFromName(name)) return *format;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown data set format \"", name,
      "\"; known: mnist, fashion-mnist, cifar10, cifar100, imagefolder"));
}

absl::StatusOr<v1::DatasetFormat> DetectDatasetFormat(const std::string& dir) {
  bool idx = false, cifar10 = false, cifar100 = false, subdirs = false;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    idx |= IsIdxName(name);
    cifar10 |= IsCifar10Name(name);
    cifar100 |= IsCifar100Name(name);
    subdirs |= entry.is_directory();
  }
  if (ec) {
    return absl::NotFoundError(
        absl::StrCat("cannot list ", dir, ": ", ec.message()));
  }
  if (idx) return v1::DATASET_FORMAT_FASHION_MNIST;
  if (cifar10) return v1::DATASET_FORMAT_CIFAR10;
  if (cifar100) return v1::DATASET_FORMAT_CIFAR100;
  if (subdirs) return v1::DATASET_FORMAT_IMAGEFOLDER;
  return absl::InvalidArgumentError(absl::StrCat(
      dir,
      " is not a data set directory: no IDX files, CIFAR batches or class "
      "sub-directories; pass --format"));
}

DatasetClient::DatasetClient(std::shared_ptr<grpc::Channel> channel,
                             DatasetClientOptions options)
    : options_(options), stub_(v1::Datasets::NewStub(std::move(channel))) {}

void DatasetClient::SetDeadline(grpc::ClientContext* context) const {
  context->set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
}

absl::StatusOr<v1::Dataset> DatasetClient::Upload(
    const v1::UploadDatasetHeader& header, const std::string& path,
    const std::function<void(int64_t sent)>& progress) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    auto files = FilesToPack(path, header.format());
    if (!files.ok()) return files.status();
    UploadStream stream(*stub_, header);
    absl::Status packed = Pack(*files, stream, options_.chunk_bytes, progress);
    auto result = stream.Finish();
    if (!packed.ok()) return packed;
    return result;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  UploadStream stream(*stub_, header);
  std::string buffer(options_.chunk_bytes, '\0');
  while (true) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const size_t n = static_cast<size_t>(in.gcount());
    if (n == 0 || !stream.Send(buffer.data(), n)) break;
    if (progress) progress(stream.sent());
  }
  return stream.Finish();
}

absl::StatusOr<v1::Dataset> DatasetClient::UploadArchiveBytes(
    const v1::UploadDatasetHeader& header, const std::string& archive) {
  UploadStream stream(*stub_, header);
  for (size_t off = 0; off < archive.size(); off += options_.chunk_bytes) {
    const size_t n = std::min(options_.chunk_bytes, archive.size() - off);
    if (!stream.Send(archive.data() + off, n)) break;
  }
  return stream.Finish();
}

absl::StatusOr<std::vector<v1::Dataset>> DatasetClient::List(
    const std::string& name) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::ListDatasetsRequest request;
  request.set_name(name);
  v1::ListDatasetsResponse response;
  grpc::Status status = stub_->ListDatasets(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return std::vector<v1::Dataset>(response.datasets().begin(),
                                  response.datasets().end());
}

absl::StatusOr<v1::Dataset> DatasetClient::Get(const std::string& name,
                                               int64_t version) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::GetDatasetRequest request;
  request.set_name(name);
  request.set_version(version);
  v1::GetDatasetResponse response;
  grpc::Status status = stub_->GetDataset(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response.dataset();
}

absl::StatusOr<int64_t> DatasetClient::Delete(const std::string& name,
                                              int64_t version) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::DeleteDatasetRequest request;
  request.set_name(name);
  request.set_version(version);
  v1::DeleteDatasetResponse response;
  grpc::Status status = stub_->DeleteDataset(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response.deleted_versions();
}

}  // namespace pruneserve::client
