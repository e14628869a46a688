// Byte-level BPE (tokenizer.ggml.model "gpt2"): GPT-2, Llama 3, SmolLM, Qwen2 vocabularies.
#pragma once

#include <memory>

#include "common/result.h"
#include "inference/gguf.h"
#include "inference/tokenizer.h"

namespace engram::inference::internal {

Result<std::unique_ptr<Tokenizer>> MakeBpeTokenizer(const GgufFile& gguf);

}  // namespace engram::inference::internal
