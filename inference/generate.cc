#include "inference/generate.h"

#include <chrono>

#include "inference/stop_strings.h"

namespace engram::inference {
namespace {

double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

std::string_view StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kEndOfGeneration: return "end_of_generation";
    case StopReason::kStopString: return "stop_string";
    case StopReason::kMaxTokens: return "max_tokens";
    case StopReason::kContextFull: return "context_full";
    case StopReason::kCancelled: return "cancelled";
  }
  return "unknown";
}

double GenerateStats::PrefillTokensPerSecond() const {
  return prefill_ms > 0 ? static_cast<double>(prompt_tokens) * 1000.0 / prefill_ms : 0.0;
}

double GenerateStats::DecodeTokensPerSecond() const {
  // The first generated token comes from the prefill's logits; decode steps are the rest.
  const int64_t steps = generated_tokens - 1;
  return decode_ms > 0 && steps > 0 ? static_cast<double>(steps) * 1000.0 / decode_ms : 0.0;
}

Result<GenerateStats> Generate(LlamaContext& ctx, const Tokenizer& tokenizer,
                               std::span<const int32_t> prompt, const GenerateOptions& options,
                               const std::function<bool(std::string_view)>& on_text) {
  if (options.max_tokens <= 0) {
    return Status::InvalidArgument("generate: the number of tokens to generate must be > 0 (got " +
                                   std::to_string(options.max_tokens) + ")");
  }
  if (Status s = ValidateSamplerOptions(options.sampler); !s.ok()) return s;
  if (prompt.empty()) {
    return Status::InvalidArgument("generate: the prompt is empty; give at least one token");
  }
  if (ctx.position() + static_cast<int64_t>(prompt.size()) > ctx.n_ctx()) {
    return Status::OutOfRange("generate: the prompt is " + std::to_string(prompt.size()) +
                              " tokens but the context holds " + std::to_string(ctx.n_ctx()) +
                              " (" + std::to_string(ctx.position()) +
                              " in use); use a larger context or truncate the prompt");
  }
  GenerateStats stats;
  stats.prompt_tokens = static_cast<int64_t>(prompt.size());
  Sampler sampler(options.sampler);
  for (int32_t t : prompt) sampler.Accept(t);
  StopStringMatcher stops(options.stop);

  const auto prefill_start = std::chrono::steady_clock::now();
  if (Status s = ctx.Eval(prompt); !s.ok()) return s;
  stats.prefill_ms = MillisecondsSince(prefill_start);

  const auto decode_start = std::chrono::steady_clock::now();
  for (;;) {
    const int32_t token = sampler.Sample(ctx.logits());
    sampler.Accept(token);
    if (options.stop_at_end_of_generation && tokenizer.IsEndOfGeneration(token)) {
      stats.reason = StopReason::kEndOfGeneration;
      break;
    }
    stats.tokens.push_back(token);
    ++stats.generated_tokens;
    if (options.on_token) options.on_token(token);
    const std::string text = stops.Feed(tokenizer.TokenToPiece(token));
    if (!text.empty() && !on_text(text)) {
      stats.reason = StopReason::kCancelled;
      break;
    }
    if (stops.stopped()) {
      stats.reason = StopReason::kStopString;
      break;
    }
    if (stats.generated_tokens >= options.max_tokens) {
      stats.reason = StopReason::kMaxTokens;
      break;
    }
    if (ctx.position() >= ctx.n_ctx()) {
      stats.reason = StopReason::kContextFull;
      break;
    }
    if (Status s = ctx.Eval({&token, 1}); !s.ok()) return s;
  }
  stats.decode_ms = MillisecondsSince(decode_start);
  if (stats.reason != StopReason::kStopString && stats.reason != StopReason::kCancelled) {
    const std::string rest = stops.Flush();
    if (!rest.empty()) on_text(rest);
  }
  return stats;
}

}  // namespace engram::inference
