// Text generation: prefill a prompt, then sample token after token, streaming the text.
//
//   GenerateOptions options;
//   options.max_tokens = 128;
//   options.sampler.temperature = 0.0f;                 // greedy
//   options.stop = {"\nUser:"};
//   Result<GenerateStats> stats = Generate(*ctx, *tokenizer, prompt_ids, options,
//       [](std::string_view text) { std::fwrite(text.data(), 1, text.size(), stdout); return true; });
//
// Generation ends at the model's end-of-generation tokens, a stop string (never emitted), the
// token limit, a full context, or when the callback returns false.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "inference/llama_context.h"
#include "inference/sampler.h"
#include "inference/stop_strings.h"
#include "inference/tokenizer.h"

namespace engram::inference {

struct GenerateOptions {
  int32_t max_tokens = 128;        // tokens to generate at most; must be > 0
  SamplerOptions sampler;
  std::vector<std::string> stop;   // stop strings; generation ends before the first match
  bool stop_at_end_of_generation = true;  // EOS / EOT tokens end generation
  // Called with each generated token id before its text is emitted (tests, logits capture).
  std::function<void(int32_t)> on_token;
};

enum class StopReason { kEndOfGeneration, kStopString, kMaxTokens, kContextFull, kCancelled };
std::string_view StopReasonName(StopReason reason);

struct GenerateStats {
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  double prefill_ms = 0.0;
  double decode_ms = 0.0;  // from the first decode step to the last
  StopReason reason = StopReason::kMaxTokens;
  std::vector<int32_t> tokens;  // the generated ids

  double PrefillTokensPerSecond() const;
  double DecodeTokensPerSecond() const;
};

// Checks the options Generate and TokenStream take: kInvalidArgument for max_tokens <= 0 or
// sampler values out of range.
Status ValidateGenerateOptions(const GenerateOptions& options);

// The per-sequence half of generation, without the forward pass: sampling, end-of-generation
// tokens, stop strings, the token limit and the text to emit. Generate drives one over one
// context; a server's scheduler drives many from one batched forward pass.
//
//   TokenStream stream(tokenizer, options, prompt);        // options must be valid
//   ctx.Eval(prompt);
//   while (std::optional<int32_t> next = stream.Next(ctx.logits(), ctx.position(), ctx.n_ctx(),
//                                                    on_text)) {
//     ctx.Eval({&*next, 1});
//   }
//   stream.Finish(on_text);            // flushes held-back text; stats() is complete
class TokenStream {
 public:
  TokenStream(const Tokenizer& tokenizer, const GenerateOptions& options,
              std::span<const int32_t> prompt);

  // Samples from the logits of the sequence's last position (`position` tokens are in its
  // cache, of `n_ctx`), emits the token's text, and returns the token to evaluate next, or
  // nullopt when generation has ended (stats().reason says why). Never call again after nullopt.
  std::optional<int32_t> Next(std::span<const float> logits, int64_t position, int64_t n_ctx,
                              const std::function<bool(std::string_view)>& on_text);
  // Ends the stream (also when cancelled from outside: pass kCancelled): emits text held back
  // for a possible stop string unless a stop string or the caller ended it.
  void Finish(const std::function<bool(std::string_view)>& on_text,
              std::optional<StopReason> reason = std::nullopt);

  const GenerateStats& stats() const { return stats_; }
  GenerateStats& stats() { return stats_; }

 private:
  const Tokenizer& tokenizer_;
  GenerateOptions options_;  // a copy: the stream may outlive the caller's options
  Sampler sampler_;
  StopStringMatcher stops_;
  GenerateStats stats_;
};

// `prompt` is evaluated at the context's current position (usually 0). Returns
// kInvalidArgument for bad options (max_tokens <= 0, sampler values out of range) and
// kOutOfRange when the prompt does not fit in the context.
Result<GenerateStats> Generate(LlamaContext& ctx, const Tokenizer& tokenizer,
                               std::span<const int32_t> prompt, const GenerateOptions& options,
                               const std::function<bool(std::string_view)>& on_text);

}  // namespace engram::inference
