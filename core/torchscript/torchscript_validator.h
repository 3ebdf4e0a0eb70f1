// The child side of sandboxed TorchScript validation: the code the
// validator process runs. The server starts its own binary as
// `pruneserve --torchscript_validator <request>` (see
// sandboxed_torchscript_inspector.h for the limits it is started under);
// main() hands the request to RunTorchScriptValidator() before it parses any
// flag or starts anything else.
//
// The validator:
//   1. keeps its stdout pipe for the result and points fd 1 at stderr, so
//      whatever the model prints cannot corrupt the result;
//   2. initialises LibTorch (threads, kernels) while it may still open
//      files;
//   3. re-checks the archive as a zip and opens it;
//   4. installs the runtime seccomp filter (validator_seccomp.h): from here
//      on it cannot open any file, exec, or signal anything but itself;
//   5. loads the archive, refuses forbidden ops, runs the validation forward
//      and counts FLOPs (TorchScriptInspector::InspectStream);
//   6. writes a serialized TorchScriptValidationResult to the pipe and
//      exits 0. A crash, a hang or an exhausted limit ends it otherwise,
//      and the server reports that instead.
#ifndef PRUNESERVE_CORE_TORCHSCRIPT_TORCHSCRIPT_VALIDATOR_H_
#define PRUNESERVE_CORE_TORCHSCRIPT_TORCHSCRIPT_VALIDATOR_H_

#include <string>

#include "absl/strings/string_view.h"
#include "pruneserve/v1/torchscript_validation.pb.h"

namespace pruneserve {

// argv[1] of a process started as the validator.
inline constexpr char kTorchScriptValidatorFlag[] = "--torchscript_validator";

// The command-line form of a request (web-safe base64 of the serialized
// proto) and back. Decode returns false on malformed text.
std::string EncodeValidationRequest(
    const v1::TorchScriptValidationRequest& request);
bool DecodeValidationRequest(absl::string_view text,
                             v1::TorchScriptValidationRequest* request);

// Runs steps 1-6 above for the encoded request and returns the process exit
// code: 0 when a result was written (whether or not the archive passed), 2
// for a malformed request, 3 when the result could not be written. Call
// once, from main(), in a process of its own: it changes fd 1 and installs
// seccomp filters that last for the rest of the process.
int RunTorchScriptValidator(absl::string_view encoded_request);

}  // namespace pruneserve

#endif  // PRUNESERVE_CORE_TORCHSCRIPT_TORCHSCRIPT_VALIDATOR_H_
