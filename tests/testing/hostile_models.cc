#include "tests/testing/hostile_models.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/script.h>
#include <torch/torch.h>
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace pruneserve::testing {
namespace {

// One zip entry as it will be written: `bytes` are the stored or raw-DEFLATE
// bytes, `size` and `crc` describe the uncompressed content.
struct ZipRecord {
  std::string name;
  std::string bytes;
  bool deflated = false;
  uint64_t size = 0;
  uint32_t crc = 0;
};

ZipRecord Stored(const std::string& name, const std::string& content) {
  ZipRecord r;
  r.name = name;
  r.bytes = content;
  r.size = content.size();
  r.crc = static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(content.data()),
            static_cast<uInt>(content.size())));
  return r;
}

void Put16(std::string* out, uint32_t v) {
  out->push_back(static_cast<char>(v & 0xFF));
  out->push_back(static_cast<char>((v >> 8) & 0xFF));
}
void Put32(std::string* out, uint32_t v) {
  Put16(out, v & 0xFFFF);
  Put16(out, v >> 16);
}

// A plain (not zip64) archive of `records`, in order.
void WriteZip(const std::string& path, const std::vector<ZipRecord>& records) {
  std::string body, directory;
  for (const ZipRecord& r : records) {
    if (r.size >= 0xFFFFFFFFu || r.bytes.size() >= 0xFFFFFFFFu) {
      throw std::runtime_error("WriteZip: entry needs zip64");
    }
    const uint32_t offset = static_cast<uint32_t>(body.size());
    const uint32_t method = r.deflated ? 8 : 0;
    std::string common;
    Put16(&common, 20);  // version needed
    Put16(&common, 0);   // flags
    Put16(&common, method);
    Put16(&common, 0);     // time
    Put16(&common, 0x21);  // date: 1980-01-01
    Put32(&common, r.crc);
    Put32(&common, static_cast<uint32_t>(r.bytes.size()));
    Put32(&common, static_cast<uint32_t>(r.size));
    Put16(&common, static_cast<uint32_t>(r.name.size()));
    Put16(&common, 0);  // extra length
    Put32(&body, 0x04034b50);
    body += common + r.name + r.bytes;
    Put32(&directory, 0x02014b50);
    Put16(&directory, 20);  // version made by
    directory += common;
    Put16(&directory, 0);  // comment length
    Put16(&directory, 0);  // disk
    Put16(&directory, 0);  // internal attributes
    Put32(&directory, 0);  // external attributes
    Put32(&directory, offset);
    directory += r.name;
  }
  std::string end;
  Put32(&end, 0x06054b50);
  Put32(&end, 0);  // disk numbers
  Put16(&end, static_cast<uint32_t>(records.size()));
  Put16(&end, static_cast<uint32_t>(records.size()));
  Put32(&end, static_cast<uint32_t>(directory.size()));
  Put32(&end, static_cast<uint32_t>(body.size()));
  Put16(&end, 0);  // comment length
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << body << directory << end;
  if (!out) throw std::runtime_error("WriteZip: cannot write " + path);
}

// The records of a saved module, renamed under "archive/".
std::vector<ZipRecord> SavedRecords(const torch::jit::Module& module) {
  std::ostringstream saved;
  module.save(saved);
  std::istringstream in(saved.str());
  caffe2::serialize::PyTorchStreamReader reader(&in);
  std::vector<ZipRecord> records;
  for (const std::string& name : reader.getAllRecords()) {
    auto [data, size] = reader.getRecord(name);
    records.push_back(
        Stored("archive/" + name,
               std::string(static_cast<const char*>(data.get()), size)));
  }
  return records;
}

ZipRecord& FindRecord(std::vector<ZipRecord>& records,
                      const std::string& suffix, const std::string& needle) {
  for (ZipRecord& r : records) {
    if (r.name.size() >= suffix.size() &&
        r.name.compare(r.name.size() - suffix.size(), suffix.size(), suffix) ==
            0 &&
        r.bytes.find(needle) != std::string::npos) {
      return r;
    }
  }
  throw std::runtime_error("hostile_models: no *" + suffix + " record with " +
                           needle);
}

// Replaces every `from` in `s` by `to`; throws when there is none.
void ReplaceAll(std::string* s, const std::string& from,
                const std::string& to) {
  size_t at = s->find(from);
  if (at == std::string::npos) {
    throw std::runtime_error("hostile_models: pattern not found");
  }
  for (; at != std::string::npos; at = s->find(from, at + to.size())) {
    s->replace(at, from.size(), to);
  }
}

// Raw DEFLATE of `bytes` zeros: one fully flushed 1 MiB block repeated
// (each copy decodes on its own), then an empty final block.
ZipRecord DeflatedZeros(const std::string& name, uint64_t bytes) {
  constexpr uint64_t kChunk = uint64_t{1} << 20;
  if (bytes == 0 || bytes % kChunk != 0) {
    throw std::runtime_error("DeflatedZeros: size must be whole MiB");
  }
  std::vector<unsigned char> zeros(kChunk, 0);
  std::vector<unsigned char> out(kChunk);
  z_stream z;
  std::memset(&z, 0, sizeof(z));
  if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 9,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  z.next_in = zeros.data();
  z.avail_in = static_cast<uInt>(kChunk);
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FULL_FLUSH);
  const size_t chunk_size = out.size() - z.avail_out;
  deflateEnd(&z);
  if (rc != Z_OK || z.avail_in != 0) throw std::runtime_error("deflate failed");
  const std::string chunk(reinterpret_cast<const char*>(out.data()),
                          chunk_size);
  const uLong chunk_crc = crc32(0, zeros.data(), static_cast<uInt>(kChunk));

  ZipRecord r;
  r.name = name;
  r.deflated = true;
  r.size = bytes;
  uLong crc = 0;
  for (uint64_t done = 0; done < bytes; done += kChunk) {
    r.bytes += chunk;
    crc = crc32_combine(crc, chunk_crc, static_cast<z_off_t>(kChunk));
  }
  r.bytes += std::string("\x03\x00", 2);  // final empty fixed-Huffman block
  r.crc = static_cast<uint32_t>(crc);
  return r;
}

// The little-endian BININT pickle opcode for `v`.
std::string PickledInt32(uint32_t v) {
  std::string s = "J";
  Put32(&s, v);
  return s;
}

}  // namespace

void WriteFromFileModel(const std::string& path, const std::string& file) {
  torch::jit::Module m("FromFile");
  m.define(R"JIT(
    def forward(self, x):
        leaked = torch.from_file(")JIT" +
           file + R"JIT(", False, 16, dtype=0)
        return x + leaked.float().sum()
  )JIT");
  m.save(path);
}

void WriteEndlessForwardModel(const std::string& path) {
  torch::jit::Module m("Endless");
  m.define(R"JIT(
    def forward(self, x):
        i = 0
        while True:
            i = i + 1
        return x
  )JIT");
  m.save(path);
}

void WriteLoadCrashingArchive(const std::string& path, int depth) {
  torch::jit::Module m("Crash");
  m.define(R"JIT(
    def forward(self, x):
        return torch.neg(x)
  )JIT");
  std::vector<ZipRecord> records = SavedRecords(m);
  ZipRecord& code = FindRecord(records, ".py", "torch.neg(x)");
  std::string source = code.bytes;
  ReplaceAll(&source, "torch.neg(x)",
             std::string(depth, '(') + "x" + std::string(depth, ')'));
  code = Stored(code.name, source);
  WriteZip(path, records);
}

void WriteZipBombModel(const std::string& path, int64_t parameter_bytes) {
  // 65537 floats: the smallest count pickled as a 4-byte BININT, so the
  // count can be patched in place to any 32-bit value.
  constexpr uint32_t kSavedCount = 65537;
  if (parameter_bytes <= 0 || parameter_bytes >= (int64_t{1} << 32)) {
    throw std::runtime_error("WriteZipBombModel: size must be below 4 GiB");
  }
  torch::jit::Module m("Bomb");
  m.register_parameter("weight", torch::zeros({kSavedCount}), false);
  m.define(R"JIT(
    def forward(self, x):
        return x + self.weight.sum()
  )JIT");
  std::vector<ZipRecord> records = SavedRecords(m);
  ZipRecord& pickle =
      FindRecord(records, "/data.pkl", PickledInt32(kSavedCount));
  std::string bytes = pickle.bytes;
  ReplaceAll(&bytes, PickledInt32(kSavedCount),
             PickledInt32(static_cast<uint32_t>(parameter_bytes / 4)));
  pickle = Stored(pickle.name, bytes);
  for (ZipRecord& r : records) {
    if (r.name == "archive/data/0") {
      r = DeflatedZeros(r.name, static_cast<uint64_t>(parameter_bytes));
      WriteZip(path, records);
      return;
    }
  }
  throw std::runtime_error("WriteZipBombModel: no archive/data/0 record");
}

}  // namespace pruneserve::testing
