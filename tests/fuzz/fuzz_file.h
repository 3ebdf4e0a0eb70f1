// Scratch files for fuzz targets whose readers take paths: one private
// directory per process (created on first use, never removed, so a crash
// leaves the input beside the reproducer), overwritten on every input.
#ifndef PRUNESERVE_TESTS_FUZZ_FUZZ_FILE_H_
#define PRUNESERVE_TESTS_FUZZ_FUZZ_FILE_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace pruneserve::fuzz {

// The process's scratch directory, e.g. /tmp/pruneserve_fuzz.AbC123.
const std::string& ScratchDir();

// Writes `size` bytes to ScratchDir()/name (parent folders created) and
// returns the path. Aborts on I/O failure: a fuzzer that cannot write its
// input tests nothing.
std::string WriteScratchFile(const std::string& name, const uint8_t* data,
                             size_t size);

}  // namespace pruneserve::fuzz

#endif  // PRUNESERVE_TESTS_FUZZ_FUZZ_FILE_H_
