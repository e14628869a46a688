// `engram eval attention`: the sparse decode attention policies (inference/attention_policy.h)
// and the KV retention policies (compress/kv_retention.h: snapkv, h2o) measured against full
// attention on the default generator and long real text; and `engram bench attention`: decode
// speed per policy against context length, on a synthetic cache up to 128k positions.
//
// Eval, per text (the essays concatenated; the longest L-Eval Natural Questions page) and context
// C: prefill the first C - T tokens once, then for each policy and budget fork the cache
// (prefix sharing) and feed tokens C - T .. C - 1 one at a time (teacher forcing, T = --steps):
//   top1_agreement  share of steps whose argmax equals full attention's
//   kl              mean KL(full || policy) of the next-token distributions (nats)
//   mass_recall     share of full attention's softmax mass on the attended keys, averaged over
//                   layers, query heads and steps
//   output_rel_err  ||out - out_full|| / ||out_full|| of the attention outputs, same average
//   attention_ms_per_token, decode_ms_per_token   decode time (the measuring excluded; under a
//                   retention policy the first step includes scoring the prefill's keys)
//   kv_bytes_kept   K and V bytes the policy keeps at the end of the run (every layer and KV
//                   head: sinks + window + kept middle); kv_kept_share = that / the whole
//                   cache's. The sparse attention policies evict nothing (share 1; their key
//                   indexes are index_bytes on top). Evicted rows stay allocated in the paged
//                   cache: this is the memory a compacting cache would keep.
// Needle: a pass-key sentence at --depths depths of the essays, the question at the end; the
// answer is generated greedily under each policy (the question's last token is the first decode
// step); needle_accuracy = share of depths answered with the key.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"

namespace engram::bench {

struct AttentionEvalOptions {
  std::string model;  // .gguf; empty: the default generator
  std::vector<int64_t> contexts = {2048, 4096, 8192};
  // full, window, quest, retrieval, or retrieval:exact / retrieval:ivf / retrieval:aware; the KV
  // retention policies snapkv and h2o (default options of compress::KvRetentionOptions, with
  // this budget, sinks and window)
  std::vector<std::string> policies = {"full", "window", "quest", "retrieval"};
  std::vector<double> budgets = {0.01, 0.02, 0.05, 0.1};
  int steps = 256;         // teacher-forced decode steps per run
  int depths = 10;         // needle depths (0: no needle test)
  std::vector<std::string> texts = {"essays", "leval"};
  int sinks = 4;
  int window = 240;
  double candidate_factor = 3.0;  // retrieval: candidates scored per attended key
  int threads = 0;
};

// {"eval": "attention", "model", "threads", "steps", "depths", "texts", "sinks", "window",
//  "results": [{"policy", "index", "ctx", "budget", "top1_agreement", "kl", "mass_recall",
//  "output_rel_err", "needle_accuracy", "attention_ms_per_token", "decode_ms_per_token",
//  "keys_attended", "index_build_ms", "index_bytes", "kv_bytes_kept", "kv_kept_share",
//  "prefill_s", "mass_recall_by_layer"}], "commit", "machine"}
Result<nlohmann::ordered_json> RunAttentionEval(const AttentionEvalOptions& options);
std::string FormatAttentionEval(const nlohmann::ordered_json& result);

struct AttentionBenchOptions {
  std::string model;
  std::vector<int64_t> contexts = {1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072};
  std::vector<std::string> policies = {"full", "quest", "retrieval"};
  double budget = 0.05;
  int steps = 8;
  int sinks = 4;
  int window = 240;
  int threads = 0;
  std::string work_dir;  // where the synthetic cache file goes (default: the temp directory)
  std::string device = "cpu";  // cpu, cuda or auto
  int gpu = 0;
};

// Decode ms/token and attention ms/token per (policy, ctx) with the cache filled by synthetic
// keys and values (loaded from a cache file made for the model), so long contexts cost no
// prefill. Speed only: the keys are not the model's. A policy "retrieval+offload" is retrieval
// with the cache in host memory and the GPU attending the sinks and window (--kv-offload; with
// --device cuda): its rows add "offload_cpu_share" and "offload_wait_share" of the step time.
// On the GPU the attention columns are 0 (not timed separately there).
// {"bench": "attention", "device", ..., "results": [{"policy", "ctx", "budget",
//  "decode_ms_per_token", "attention_ms_per_token", "keys_attended", "index_build_ms",
//  "index_bytes"}]}
Result<nlohmann::ordered_json> RunAttentionBench(const AttentionBenchOptions& options);
std::string FormatAttentionBench(const nlohmann::ordered_json& result);

}  // namespace engram::bench
