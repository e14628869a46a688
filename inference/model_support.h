// Whether engram can run a GGUF model: its architecture and every tensor type. The model
// loader calls this first so that an unsupported file fails with one clear line instead of
// deep inside loading; `engram inspect --check` exposes it.
#pragma once

#include <span>
#include <string_view>

#include "common/status.h"
#include "inference/gguf.h"

namespace engram::inference {

// The general.architecture values engram runs: llama-family decoders and BERT encoders.
std::span<const std::string_view> SupportedArchitectures();

// OK, or kNotSupported naming the architecture or the first tensor whose type has no kernels
// (with the supported alternatives), or kInvalidArgument when the file names no architecture.
Status CheckSupportedModel(const GgufFile& gguf);

}  // namespace engram::inference
