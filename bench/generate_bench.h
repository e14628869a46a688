// `engram bench prefill` and `engram bench decode`: tokens/s of the forward pass at given
// context lengths, on real text (the essays, or --text), measured the way bench/peer_llamacpp.sh
// measures llama.cpp:
//   prefill at C: evaluate the first C tokens on an empty context;
//   decode at C:  prefill the first C - T tokens, then feed tokens C - T .. C - 1 one at a time
//                 (teacher forcing, logits of each), T / seconds.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"

namespace engram::bench {

struct GenerateBenchOptions {
  std::string model;               // .gguf; empty: the default generator
  std::vector<int64_t> contexts = {512, 2048, 8192};
  int decode_tokens = 32;          // T
  int threads = 0;                 // 0: one per hardware thread
  std::string text_file;           // empty: the essays under ENGRAM_SHARED_DATA, concatenated
  int repeat = 0;                  // runs per context (median); 0: 3 up to 2048 tokens, else 1
  std::string kv_type = "f16";
  std::string device = "cpu";      // cpu, cuda or auto (inference::ParseDevice)
  int gpu = 0;
  // decode: sequences decoded together (LlamaContext::DecodeBatch, forks of one prompt); above
  // 1 the single-sequence rate at the same context is measured too.
  int batch = 1;
  // decode: a synthetic cache of ctx - T positions instead of a prefill (speed only; allows
  // contexts beyond the model's training window).
  bool synthetic = false;
  std::string work_dir;            // where the synthetic cache file goes (default: temp dir)
};

// {"bench": "prefill", "model", "threads", "kv_type", "results": [{"ctx", "prefill_tokens",
//  "prefill_tokens_per_s", "prefill_ms", "runs"}], "commit", "machine"}
Result<nlohmann::ordered_json> RunPrefillBench(const GenerateBenchOptions& options);
// As above with "bench": "decode", "device" (cpu or the GPU's name), "batch", and results
// [{"ctx", "prefill_tokens", "prefill_tokens_per_s" (absent with synthetic), "decode_tokens",
//  "decode_tokens_per_s" (all sequences together), "decode_ms_per_token" (per step),
//  "decode_bytes_per_step" (weights once, plus every sequence's keys and values:
//  inference::DecodeBytesRead), "decode_bytes_per_s", "peak_bandwidth_fraction" (GPU only),
//  "single_decode_tokens_per_s" (batch > 1 only), "runs"}].
Result<nlohmann::ordered_json> RunDecodeBench(const GenerateBenchOptions& options);

std::string FormatGenerateBench(const nlohmann::ordered_json& result);

}  // namespace engram::bench
