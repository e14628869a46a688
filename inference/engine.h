// Engine: the one place that loads a generator model and everything that goes with it (its
// tokenizer, chat template, context and sampler options), for the CLI, the benches, the evals
// and the QA pipeline alike.
//
//   EngineOptions options;                         // every default lives in these structs
//   options.context.n_ctx = 8192;
//   Result<std::unique_ptr<Engine>> engine = Engine::Load(options);   // default generator
//   std::vector<int32_t> prompt = (*engine)->EncodeChat({{"user", "Hello"}});
//   Result<std::unique_ptr<LlamaContext>> ctx = (*engine)->NewContext();
//   Result<GenerateStats> stats = (*engine)->Generate(**ctx, prompt, on_text);
//
// An engine is immutable after Load and may be shared by threads; each thread makes its own
// context (NewContext), which shares the model's weights.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "inference/chat_template.h"
#include "inference/generate.h"
#include "inference/llama_context.h"
#include "inference/llama_model.h"
#include "inference/sampler.h"
#include "inference/tokenizer.h"
#include "kernels/tensor_type.h"

namespace engram::inference {

struct EngineOptions {
  // A .gguf file; empty: the default generator that scripts/fetch_models.sh installed.
  std::string model;
  // chatml, llama2, llama3 or mistral; empty: the one the model's file names (else ChatML).
  std::string chat_template;
  ContextOptions context;      // n_ctx, threads, KV type and the decode attention policy
  GenerateOptions generation;  // token limit, sampler, stop strings
};

// "f16" or "f32" (the KV cache entry types); kInvalidArgument naming both otherwise.
Result<TensorType> ParseKvType(std::string_view name);
std::string_view KvTypeName(TensorType type);

class Engine {
 public:
  // Loads the model (kNotFound with the fetch command when the default one is missing), its
  // tokenizer and chat template, and checks the options (kInvalidArgument naming the field).
  static Result<std::unique_ptr<Engine>> Load(const EngineOptions& options);

  const EngineOptions& options() const { return options_; }
  // The file the model came from (the resolved default when options().model was empty).
  const std::string& model_path() const { return model_path_; }
  const std::shared_ptr<const LlamaModel>& model() const { return model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const ChatTemplate& chat_template() const { return chat_template_; }
  // Positions a context holds: options().context.n_ctx, or the model's training context.
  int64_t context_length() const;

  // Plain text as a prompt (the begin token added as the vocabulary says; control tokens in
  // the text stay text).
  std::vector<int32_t> Encode(std::string_view text) const;
  // A conversation in the chat template. With `add_generation_prompt` it ends with the opening
  // of the assistant's turn. Control-token text inside the messages stays text: users cannot
  // inject template tokens.
  std::vector<int32_t> EncodeChat(std::span<const ChatMessage> messages,
                                  bool add_generation_prompt = true) const;
  // As EncodeChat, with each message's content given as segments that are encoded one by one
  // (so a prefix ending at a segment boundary has the same tokens whatever follows: a cached
  // document before a question). `segment_starts` (optional) receives the index of each
  // segment's first token, over all messages in order.
  struct ChatSegments {
    std::string role;
    std::vector<std::string> segments;
  };
  std::vector<int32_t> EncodeChatSegments(std::span<const ChatSegments> messages,
                                          bool add_generation_prompt,
                                          std::vector<size_t>* segment_starts = nullptr) const;
  // The template's text for a conversation, for callers that split it (a cached prefix).
  std::string RenderChat(std::span<const ChatMessage> messages,
                         bool add_generation_prompt = true) const;
  // Text that was rendered by RenderChat (template tokens recognised, user text not).
  std::vector<int32_t> EncodeRendered(std::string_view rendered) const;

  // A context with the engine's context options, or with `options` instead.
  Result<std::unique_ptr<LlamaContext>> NewContext() const;
  Result<std::unique_ptr<LlamaContext>> NewContext(const ContextOptions& options) const;

  // Generates from `prompt` at the context's position with options().generation, or with
  // `generation` instead.
  Result<GenerateStats> Generate(LlamaContext& ctx, std::span<const int32_t> prompt,
                                 const std::function<bool(std::string_view)>& on_text) const;
  Result<GenerateStats> Generate(LlamaContext& ctx, std::span<const int32_t> prompt,
                                 const GenerateOptions& generation,
                                 const std::function<bool(std::string_view)>& on_text) const;

 private:
  Engine() = default;
  EngineOptions options_;
  std::string model_path_;
  std::shared_ptr<const LlamaModel> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  ChatTemplate chat_template_;
};

}  // namespace engram::inference
