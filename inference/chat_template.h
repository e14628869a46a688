// Chat templates: turning a conversation into the prompt text a chat model was trained on.
//
// engram does not run Jinja. It recognises the template a GGUF file ships in
// `tokenizer.chat_template` as one of the formats below (the way llama.cpp does) and renders
// that format natively; `--chat-template NAME` overrides the choice.
//
//   chatml   <|im_start|>role\ncontent<|im_end|>\n …          (SmolLM2, Qwen2, …)
//   llama2   <s>[INST] <<SYS>>\nsys\n<</SYS>>\n\nuser [/INST] answer </s>
//   llama3   <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>
//   mistral  <s>[INST] user [/INST] answer</s>
//   gemma    <bos><start_of_turn>user\ncontent<end_of_turn>\n<start_of_turn>model\n …
//            (Gemma 2/3; "assistant" is "model", system text opens the next user turn)
//
// The rendered text contains special-token strings: encode it with
// EncodeOptions{.parse_special = true} and without adding BOS (llama2, llama3, mistral and
// gemma prompts already start with it).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace engram::inference {

class GgufFile;

enum class ChatFormat { kChatML, kLlama2, kLlama3, kMistral, kGemma };

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

struct ChatTemplate {
  ChatFormat format = ChatFormat::kChatML;
  // Used when the conversation has no system message and the model's template adds one
  // (SmolLM2's "You are a helpful AI assistant named SmolLM, …"). Empty: none.
  std::string default_system;
};

std::string_view ChatFormatName(ChatFormat format);
// "chatml", "llama2", "llama3", "mistral", "gemma"; kInvalidArgument listing them otherwise.
Result<ChatFormat> ParseChatFormat(std::string_view name);

// Recognises a Jinja chat template; nullopt when it matches none of the formats.
std::optional<ChatTemplate> RecognizeChatTemplate(std::string_view jinja);

// The template for a model: `override_name` when not empty, else recognised from the file's
// tokenizer.chat_template, else by general.architecture (gemma* files converted without a
// template key get gemma, as llama.cpp's fallback does), else ChatML (what the default model
// uses).
Result<ChatTemplate> ChatTemplateForModel(const GgufFile& gguf, std::string_view override_name);

// Renders the conversation; with `add_generation_prompt` it ends with the opening of an
// assistant turn so that the model continues as the assistant.
std::string ApplyChatTemplate(const ChatTemplate& chat_template,
                              std::span<const ChatMessage> messages,
                              bool add_generation_prompt = true);

}  // namespace engram::inference
