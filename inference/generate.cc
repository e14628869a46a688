#include "inference/generate.h"

#include <chrono>


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

Status ValidateGenerateOptions(const GenerateOptions& options) {
  if (options.max_tokens <= 0) {
    return Status::InvalidArgument("generate: the number of tokens to generate must be > 0 (got " +
                                   std::to_string(options.max_tokens) + ")");
  }
  return ValidateSamplerOptions(options.sampler);
}

TokenStream::TokenStream(const Tokenizer& tokenizer, const GenerateOptions& options,
                         std::span<const int32_t> prompt)
    : tokenizer_(tokenizer), options_(options), sampler_(options.sampler), stops_(options.stop) {
  stats_.prompt_tokens = static_cast<int64_t>(prompt.size());
  for (int32_t t : prompt) sampler_.Accept(t);
}

std::optional<int32_t> TokenStream::Next(std::span<const float> logits, int64_t position,
                                         int64_t n_ctx,
                                         const std::function<bool(std::string_view)>& on_text) {
  const int32_t token = sampler_.Sample(logits);
  sampler_.Accept(token);
  if (options_.stop_at_end_of_generation && tokenizer_.IsEndOfGeneration(token)) {
    stats_.reason = StopReason::kEndOfGeneration;
    return std::nullopt;
  }
  stats_.tokens.push_back(token);
  ++stats_.generated_tokens;
  if (options_.on_token) options_.on_token(token);
  const std::string text = stops_.Feed(tokenizer_.TokenToPiece(token));
  if (!text.empty() && !on_text(text)) {
    stats_.reason = StopReason::kCancelled;
    return std::nullopt;
  }
  if (stops_.stopped()) {
    stats_.reason = StopReason::kStopString;
    return std::nullopt;
  }
  if (stats_.generated_tokens >= options_.max_tokens) {
    stats_.reason = StopReason::kMaxTokens;
    return std::nullopt;
  }
  if (position >= n_ctx) {
    stats_.reason = StopReason::kContextFull;
    return std::nullopt;
  }
  return token;
}

void TokenStream::Finish(const std::function<bool(std::string_view)>& on_text,
                         std::optional<StopReason> reason) {
  if (reason) stats_.reason = *reason;
  if (stats_.reason == StopReason::kStopString || stats_.reason == StopReason::kCancelled) return;
  const std::string rest = stops_.Flush();
  if (!rest.empty()) on_text(rest);
}

Result<GenerateStats> Generate(LlamaContext& ctx, const Tokenizer& tokenizer,
                               std::span<const int32_t> prompt, const GenerateOptions& options,
                               const std::function<bool(std::string_view)>& on_text) {
  if (Status s = ValidateGenerateOptions(options); !s.ok()) return s;
  if (prompt.empty()) {
    return Status::InvalidArgument("generate: the prompt is empty; give at least one token");
  }
  if (ctx.position() + static_cast<int64_t>(prompt.size()) > ctx.n_ctx()) {
    return Status::OutOfRange("generate: the prompt is " + std::to_string(prompt.size()) +
                              " tokens but the context holds " + std::to_string(ctx.n_ctx()) +
                              " (" + std::to_string(ctx.position()) +
                              " in use); use a larger context or truncate the prompt");
  }
  TokenStream stream(tokenizer, options, prompt);
  const auto prefill_start = std::chrono::steady_clock::now();
  if (Status s = ctx.Eval(prompt); !s.ok()) return s;
  stream.stats().prefill_ms = MillisecondsSince(prefill_start);

  const auto decode_start = std::chrono::steady_clock::now();
  while (std::optional<int32_t> next =
             stream.Next(ctx.logits(), ctx.position(), ctx.n_ctx(), on_text)) {
    if (Status s = ctx.Eval({&*next, 1}); !s.ok()) return s;
  }
  stream.stats().decode_ms = MillisecondsSince(decode_start);
  stream.Finish(on_text);
  return stream.stats();
}

}  // namespace engram::inference
