// TorchScript archives an attacker might upload, written at test time for
// the validator's tests: each one is a real archive (or a real archive with
// one record replaced), so the checks are exercised the way an upload would
// exercise them. No LibTorch types in this header. Every writer throws
// std::runtime_error on failure (tests only).
#ifndef PRUNESERVE_TESTS_TESTING_HOSTILE_MODELS_H_
#define PRUNESERVE_TESTS_TESTING_HOSTILE_MODELS_H_

#include <cstdint>
#include <string>

namespace pruneserve::testing {

// forward(x) returns x plus the first bytes of `file` read with
// torch.from_file (aten::from_file), as a [N, 1, 28, 28] model would.
void WriteFromFileModel(const std::string& path,
                        const std::string& file = "/etc/passwd");

// forward(x) never returns (`while True` over an integer counter).
void WriteEndlessForwardModel(const std::string& path);

// A model whose TorchScript source has a return expression nested
// `depth` parentheses deep: LibTorch 1.13's recursive-descent parser
// overflows the stack and the loading process dies with SIGSEGV inside
// torch::jit::load. Never load it in the test process.
void WriteLoadCrashingArchive(const std::string& path, int depth = 1000000);

// A model with one float parameter of `parameter_bytes` bytes of zeros, its
// record DEFLATEd (about 1 KiB per MiB), so the archive is small and
// declares `parameter_bytes` uncompressed. The pickled shape is patched from
// a small saved model, so everything else is what torch::jit::save writes.
// parameter_bytes must be a multiple of 4 MiB below 4 GiB.
void WriteZipBombModel(const std::string& path,
                       int64_t parameter_bytes = int64_t{1} << 30);

}  // namespace pruneserve::testing

#endif  // PRUNESERVE_TESTS_TESTING_HOSTILE_MODELS_H_
