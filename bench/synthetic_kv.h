// Synthetic KV caches for speed measurements at context lengths no real prompt (or the model's
// training window) reaches: keys share a few directions (as real keys do) plus noise, values
// are noise. Speed only; what the model then generates means nothing.
//
//   Status s = LoadSyntheticCache(ctx, 32768, work_dir);   // ctx.position() == 32768
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "inference/llama_context.h"

namespace engram::bench {

// Writes a cache file of `length` synthetic positions for ctx's model to `path`.
Status WriteSyntheticCache(const inference::LlamaContext& ctx, int64_t length,
                           const std::string& path);

// Makes ctx's current sequence `length` synthetic positions, through a temporary cache file in
// `work_dir` (empty: the temporary directory), removed afterwards. On a GPU context the rows
// are uploaded (LlamaContext::LoadCache).
Status LoadSyntheticCache(inference::LlamaContext& ctx, int64_t length,
                          const std::string& work_dir);

}  // namespace engram::bench
