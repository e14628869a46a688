#include "inference/engine.h"

#include <filesystem>

#include "common/default_models.h"

namespace engram::inference {

Result<TensorType> ParseKvType(std::string_view name) {
  if (name == "f16") return TensorType::kF16;
  if (name == "f32") return TensorType::kF32;
  return Status::InvalidArgument("KV cache type '" + std::string(name) +
                                 "' is not supported; use f16 or f32");
}

std::string_view KvTypeName(TensorType type) {
  return type == TensorType::kF32 ? "f32" : "f16";
}

Result<std::unique_ptr<Engine>> Engine::Load(const EngineOptions& options) {
  if (options.context.n_ctx < 0) {
    return Status::InvalidArgument("context length " + std::to_string(options.context.n_ctx) +
                                   " must be > 0 (or 0 for the model's training context)");
  }
  if (options.context.n_threads < 0) {
    return Status::InvalidArgument("threads " + std::to_string(options.context.n_threads) +
                                   " must be >= 0 (0: one per hardware thread)");
  }
  if (Status s = ValidateAttentionOptions(options.context.attention); !s.ok()) return s;
  if (Status s = ValidateSamplerOptions(options.generation.sampler); !s.ok()) return s;
  if (options.generation.max_tokens <= 0) {
    return Status::InvalidArgument("the number of tokens to generate must be > 0 (got " +
                                   std::to_string(options.generation.max_tokens) + ")");
  }
  std::unique_ptr<Engine> engine(new Engine());
  engine->options_ = options;
  engine->model_path_ = options.model;
  if (engine->model_path_.empty()) {
    ENGRAM_TRY_ASSIGN(std::filesystem::path path, DefaultModelPath("generator"));
    engine->model_path_ = path.string();
  } else {
    // A lock model's name (-m gemma3) becomes its file, or one line saying how to fetch it.
    ENGRAM_TRY_ASSIGN(engine->model_path_, ResolveModelArgument(engine->model_path_, "generator"));
  }
  ENGRAM_TRY_ASSIGN(engine->model_, LlamaModel::Load(engine->model_path_));
  // Past its trained context a model's positions are ones it never saw: refuse, rather than
  // generate quietly degraded text.
  if (const int64_t trained = engine->model_->config().n_ctx_train;
      options.context.n_ctx > trained) {
    return Status::InvalidArgument(
        "context length " + std::to_string(options.context.n_ctx) + " is beyond the " +
        std::to_string(trained) + " positions '" + engine->model_path_ +
        "' was trained for; use --ctx " + std::to_string(trained) +
        " or less (a longer prompt: --truncate keeps its end)");
  }
  ENGRAM_TRY_ASSIGN(engine->tokenizer_, Tokenizer::FromGguf(engine->model_->gguf()));
  ENGRAM_TRY_ASSIGN(engine->chat_template_,
                    ChatTemplateForModel(engine->model_->gguf(), options.chat_template));
  return engine;
}

int64_t Engine::context_length() const {
  return options_.context.n_ctx > 0 ? options_.context.n_ctx : model_->config().n_ctx_train;
}

std::vector<int32_t> Engine::Encode(std::string_view text) const {
  return tokenizer_->Encode(text, {.add_special = true, .parse_special = false});
}

std::string Engine::RenderChat(std::span<const ChatMessage> messages,
                               bool add_generation_prompt) const {
  return ApplyChatTemplate(chat_template_, messages, add_generation_prompt);
}

std::vector<int32_t> Engine::EncodeRendered(std::string_view rendered) const {
  // The template carries its own special tokens.
  return tokenizer_->Encode(rendered, {.add_special = false, .parse_special = true});
}

std::vector<int32_t> Engine::EncodeChat(std::span<const ChatMessage> messages,
                                        bool add_generation_prompt) const {
  std::vector<ChatSegments> segmented;
  for (const ChatMessage& m : messages) segmented.push_back({m.role, {m.content}});
  return EncodeChatSegments(segmented, add_generation_prompt);
}

std::vector<int32_t> Engine::EncodeChatSegments(std::span<const ChatSegments> messages,
                                                bool add_generation_prompt,
                                                std::vector<size_t>* segment_starts) const {
  // Render the template around a marker per message, then encode the template's text with its
  // tokens recognised and the contents as plain text: users cannot inject template tokens.
  const std::string marker = "\x01engram-message\x01";
  std::vector<ChatMessage> marked;
  for (const ChatSegments& m : messages) marked.push_back({m.role, marker});
  const std::string rendered = RenderChat(marked, add_generation_prompt);
  if (segment_starts != nullptr) segment_starts->clear();
  std::vector<int32_t> out;
  auto append = [&out](const std::vector<int32_t>& t) { out.insert(out.end(), t.begin(), t.end()); };
  size_t at = 0;
  for (const ChatSegments& m : messages) {
    const size_t found = rendered.find(marker, at);
    if (found == std::string::npos) break;  // a template that drops a message (none does)
    append(EncodeRendered(std::string_view(rendered).substr(at, found - at)));
    for (const std::string& segment : m.segments) {
      if (segment_starts != nullptr) segment_starts->push_back(out.size());
      append(tokenizer_->Encode(segment));
    }
    at = found + marker.size();
  }
  append(EncodeRendered(std::string_view(rendered).substr(at)));
  return out;
}

Result<std::unique_ptr<LlamaContext>> Engine::NewContext() const {
  return NewContext(options_.context);
}

Result<std::unique_ptr<LlamaContext>> Engine::NewContext(const ContextOptions& options) const {
  return LlamaContext::Create(model_, options);
}

Result<GenerateStats> Engine::Generate(
    LlamaContext& ctx, std::span<const int32_t> prompt,
    const std::function<bool(std::string_view)>& on_text) const {
  return Generate(ctx, prompt, options_.generation, on_text);
}

Result<GenerateStats> Engine::Generate(
    LlamaContext& ctx, std::span<const int32_t> prompt, const GenerateOptions& generation,
    const std::function<bool(std::string_view)>& on_text) const {
  return inference::Generate(ctx, *tokenizer_, prompt, generation, on_text);
}

}  // namespace engram::inference
