// The serving engine: one thread owns the model and decodes every active request together.
//
//   Result<std::unique_ptr<Scheduler>> s = Scheduler::Start(engine, {.max_sequences = 32});
//   GenerationRequest request;
//   request.prompt = engine.EncodeChat(messages);
//   request.generation.max_tokens = 64;
//   Result<Completion> done = (*s)->Complete(std::move(request),
//       [](std::string_view text) { std::cout << text; return true; });
//
// Continuous batching: each step evaluates one token of every active sequence in one batched
// forward pass (LlamaContext::DecodeBatch: the weights are read once for all of them); between
// steps waiting requests are admitted (their prompts prefilled into their own KV cache
// sequences, in chunks so running streams are not stalled long) while sequences and cache
// blocks last. A request whose prompt cannot fit waits; the queue is bounded (Submit returns
// kResourceExhausted beyond it: HTTP 429).
//
// Callbacks run on the scheduler thread: keep them short (hand the text to another thread).
// Cancellation (Ticket::Cancel, or on_text returning false) and deadlines are checked every
// step; a cancelled sequence's cache blocks are freed at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/status.h"
#include "inference/engine.h"
#include "inference/generate.h"

namespace engram::agent {

struct SchedulerOptions {
  int max_sequences = 32;         // decoded together at most (rows of one batched step)
  size_t max_queue = 256;         // waiting requests at most; Submit fails beyond
  // KV cache pool over all sequences, in positions; 0: max_sequences × 2048 (at least n_ctx).
  int64_t kv_pool_positions = 0;
  int prefill_chunk = 256;        // prompt tokens prefilled between two decode steps
};

struct GenerationRequest {
  std::vector<int32_t> prompt;
  inference::GenerateOptions generation;  // max_tokens, sampler (seed), stop strings
  // Past it the request ends with kUnavailable "timed out" (HTTP 503; the text so far is lost).
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

struct Completion {
  std::string text;                 // everything streamed
  inference::GenerateStats stats;   // prompt/generated tokens, prefill/decode ms, stop reason
  double queue_ms = 0.0;            // waiting before admission
  double first_token_ms = 0.0;      // from Submit to the first text
};

// Handle of a submitted request.
class Ticket {
 public:
  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancelled_{false};
};

struct SchedulerStats {
  size_t queued = 0;             // waiting for admission
  size_t active = 0;             // sequences being decoded
  int64_t kv_blocks_used = 0, kv_blocks_total = 0;
  uint64_t steps = 0;            // batched decode steps so far
  uint64_t prompt_tokens = 0, generated_tokens = 0;  // totals
};

class Scheduler {
 public:
  // on_text: the text as it is generated (false cancels). on_done: once, at the end: the
  // completion, or the error (kUnavailable past the deadline; a Completion whose
  // stats.reason is kCancelled when cancelled).
  using OnText = std::function<bool(std::string_view)>;
  using OnDone = std::function<void(Result<Completion>)>;

  static Result<std::unique_ptr<Scheduler>> Start(const inference::Engine& engine,
                                                  const SchedulerOptions& options);
  ~Scheduler();  // Shutdown(/*drain=*/false)

  // Queues a request. kResourceExhausted when the queue is full; kInvalidArgument for bad
  // generation options or an empty prompt; kOutOfRange when the prompt cannot fit the context;
  // kUnavailable after Shutdown.
  Result<std::shared_ptr<Ticket>> Submit(GenerationRequest request, OnText on_text, OnDone on_done);
  // Submit and wait.
  Result<Completion> Complete(GenerationRequest request, OnText on_text = {});

  // Stops admitting; with `drain` finishes the queued and active requests first, otherwise
  // cancels them. Returns when the scheduler thread has ended.
  void Shutdown(bool drain);
  SchedulerStats stats() const;
  const inference::Engine& engine() const;

 private:
  struct State;
  explicit Scheduler(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace engram::agent
