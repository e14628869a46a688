// Attention policies for decode: which cached keys one decode step attends.
//
//   AttentionOptions a{.kind = AttentionKind::kRetrieval, .budget = 0.05};
//   ContextOptions options{.n_ctx = 8192, .attention = a};    // or ctx->SetAttention(a)
//
// Every policy attends the first `sinks` positions and the recent `window` positions exactly
// (StreamingLLM's attention sinks and local window); they differ in what else they attend from
// the middle of the cache, at most budget * (cache length) keys per KV head:
//   full       every key (the exact reference; sinks, window and budget do not apply).
//   window     nothing from the middle: the recent window grows by the budget instead, so every
//              policy attends as many keys (StreamingLLM).
//   quest      the cache's blocks ("pages") with the highest query-aware upper bound on a key's
//              score, Σ_d max(q_d·min_d, q_d·max_d) from the per-channel key bounds of the page,
//              taking the maximum over the GQA group's queries (Quest).
//   retrieval  the top keys of the middle found through a key index per (layer, KV head): the
//              index proposes candidates, they are scored exactly against the group's queries
//              (max over the group), and the best budget * length are attended
//              (RetrievalAttention). Keys that leave the window are indexed in batches of
//              `index_batch`; until then they are attended exactly with the window.
//              Two more candidate sources cover what an index learnt from prefill queries
//              cannot: the pages with the highest Quest bound for the group (`page_candidates`;
//              a key no prefill query attended, such as a needle only the question asks for,
//              still lifts its page's bound), and the `successors` positions after each of the
//              previous step's best keys (a head copying a span moves one position per token).
// The attended parts are attended separately and merged with log-sum-exp
// (kernels::MergeAttention), so the output is the softmax over exactly the attended keys.
// Prefill (several tokens per Eval) is always full attention: the policies govern decode.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"
#include "retrieval/key_index.h"

namespace engram::inference {

enum class AttentionKind { kFull, kWindow, kQuest, kRetrieval };

std::string_view AttentionKindName(AttentionKind kind);  // "full", "window", "quest", "retrieval"
// kInvalidArgument for another name, listing the valid ones.
Result<AttentionKind> ParseAttentionKind(std::string_view name);

struct AttentionOptions {
  AttentionKind kind = AttentionKind::kFull;
  double budget = 0.05;  // (0, 1]: keys attended from the middle, as a share of the cache length
  int sinks = 4;         // first positions always attended
  int window = 240;      // recent positions always attended
  retrieval::KeyIndexKind index = retrieval::KeyIndexKind::kAttentionAware;  // retrieval only
  double candidate_factor = 3.0;  // retrieval: candidates scored per attended key
  int index_batch = 16;           // retrieval: keys indexed together as they leave the window
  int query_samples = 512;        // prefill positions whose queries the aware index learns from
  // retrieval: pages (kv_block_size positions) ranked by Quest's bound added to the index's
  // candidates, as a share of budget * length / kv_block_size pages; 0 turns the source off.
  // Costs a pass over every page's key bounds per step and KV head.
  double page_candidates = 0.25;
  // retrieval: positions after each of the previous step's 16 best keys (per layer and KV head)
  // added to the candidates; 0 turns the source off.
  int successors = 2;
};

// "full", "window", "quest", "retrieval" or "retrieval:exact|ivf|aware" into the kind and index
// of `base` (the other fields are kept). kInvalidArgument for anything else.
Result<AttentionOptions> ParseAttentionPolicy(std::string_view spec, AttentionOptions base = {});

// kInvalidArgument naming the field, its value and the valid range.
Status ValidateAttentionOptions(const AttentionOptions& options);

// "retrieval(aware) budget 0.05, sinks 4, window 240" and the like.
std::string DescribeAttention(const AttentionOptions& options);

}  // namespace engram::inference
