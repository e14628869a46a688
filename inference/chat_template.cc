#include "inference/chat_template.h"

#include "inference/gguf.h"

namespace engram::inference {
namespace {

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Text of a default system turn written literally in a ChatML template, e.g.
// {{ '<|im_start|>system\nYou are …<|im_end|>\n' }} guarded by "role != 'system'".
std::string DefaultChatMlSystem(std::string_view jinja) {
  constexpr std::string_view kOpen = "<|im_start|>system\n";
  constexpr std::string_view kClose = "<|im_end|>";
  if (!Contains(jinja, "!= 'system'") && !Contains(jinja, "!= \"system\"")) return {};
  const size_t begin = jinja.find(kOpen);
  if (begin == std::string_view::npos) return {};
  const size_t text = begin + kOpen.size();
  const size_t end = jinja.find(kClose, text);
  if (end == std::string_view::npos) return {};
  const std::string_view body = jinja.substr(text, end - text);
  // Only a literal: a template expression here means the system text is not fixed.
  if (Contains(body, "{{") || Contains(body, "'") || Contains(body, "+")) return {};
  return std::string(body);
}

std::string Trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\n\r");
  if (b == std::string_view::npos) return {};
  const size_t e = s.find_last_not_of(" \t\n\r");
  return std::string(s.substr(b, e - b + 1));
}

std::string RenderChatMl(const ChatTemplate& t, std::span<const ChatMessage> messages) {
  std::string out;
  if (!t.default_system.empty() && (messages.empty() || messages[0].role != "system")) {
    out += "<|im_start|>system\n" + t.default_system + "<|im_end|>\n";
  }
  for (const ChatMessage& m : messages) {
    out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  }
  return out;
}

std::string RenderLlama3(std::span<const ChatMessage> messages) {
  std::string out = "<|begin_of_text|>";
  for (const ChatMessage& m : messages) {
    out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + Trim(m.content) +
           "<|eot_id|>";
  }
  return out;
}

// Llama 2 and Mistral: system text folds into the first user turn; each exchange is
// <s>[INST] user [/INST] answer</s>.
std::string RenderInst(std::span<const ChatMessage> messages, bool llama2) {
  std::string out;
  std::string system;
  bool first_user = true;
  for (const ChatMessage& m : messages) {
    if (m.role == "system") {
      system = Trim(m.content);
    } else if (m.role == "user") {
      std::string content = Trim(m.content);
      if (first_user && !system.empty()) {
        content = llama2 ? "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + content
                         : system + "\n\n" + content;
      }
      out += (llama2 || first_user ? "<s>" : "") + std::string("[INST] ") + content + " [/INST]";
      first_user = false;
    } else {
      out += (llama2 ? " " : "") + Trim(m.content) + (llama2 ? " </s>" : "</s>");
    }
  }
  return out;
}

// Gemma (Google's template and llama.cpp's gemma format): no system role, so system text (trimmed)
// opens the next user turn followed by a blank line; "assistant" is called "model". A system
// message with no user turn after it becomes a user turn of its own rather than vanishing,
// so that every message is rendered (Engine::EncodeChatSegments relies on that).
std::string RenderGemma(std::span<const ChatMessage> messages) {
  std::string out = "<bos>";
  std::string system;
  bool has_system = false;
  for (const ChatMessage& m : messages) {
    if (m.role == "system") {
      system += Trim(m.content);
      has_system = true;
      continue;
    }
    const std::string role = m.role == "assistant" ? "model" : m.role;
    out += "<start_of_turn>" + role + "\n";
    if (has_system && role != "model") {
      out += system + "\n\n";
      system.clear();
      has_system = false;
    }
    out += Trim(m.content) + "<end_of_turn>\n";
  }
  if (has_system) out += "<start_of_turn>user\n" + system + "\n\n<end_of_turn>\n";
  return out;
}

}  // namespace

std::string_view ChatFormatName(ChatFormat format) {
  switch (format) {
    case ChatFormat::kChatML: return "chatml";
    case ChatFormat::kLlama2: return "llama2";
    case ChatFormat::kLlama3: return "llama3";
    case ChatFormat::kMistral: return "mistral";
    case ChatFormat::kGemma: return "gemma";
  }
  return "?";
}

Result<ChatFormat> ParseChatFormat(std::string_view name) {
  for (ChatFormat f : {ChatFormat::kChatML, ChatFormat::kLlama2, ChatFormat::kLlama3,
                       ChatFormat::kMistral, ChatFormat::kGemma}) {
    if (name == ChatFormatName(f)) return f;
  }
  return Status::InvalidArgument("unknown chat template '" + std::string(name) +
                                 "'; use one of chatml, llama2, llama3, mistral, gemma");
}

std::optional<ChatTemplate> RecognizeChatTemplate(std::string_view jinja) {
  ChatTemplate t;
  if (Contains(jinja, "<|im_start|>")) {
    t.format = ChatFormat::kChatML;
    t.default_system = DefaultChatMlSystem(jinja);
    return t;
  }
  if (Contains(jinja, "<|start_header_id|>") && Contains(jinja, "<|end_header_id|>")) {
    t.format = ChatFormat::kLlama3;
    return t;
  }
  if (Contains(jinja, "<start_of_turn>")) {
    t.format = ChatFormat::kGemma;
    return t;
  }
  if (Contains(jinja, "[INST]")) {
    t.format = Contains(jinja, "<<SYS>>") ? ChatFormat::kLlama2 : ChatFormat::kMistral;
    return t;
  }
  return std::nullopt;
}

Result<ChatTemplate> ChatTemplateForModel(const GgufFile& gguf, std::string_view override_name) {
  std::optional<ChatTemplate> recognized;
  if (const GgufValue* v = gguf.Find("tokenizer.chat_template")) {
    Result<std::string_view> jinja = v->AsString();
    if (jinja.ok()) recognized = RecognizeChatTemplate(*jinja);
  }
  if (!override_name.empty()) {
    Result<ChatFormat> format = ParseChatFormat(override_name);
    if (!format.ok()) return format.status();
    ChatTemplate t;
    t.format = *format;
    // Keep the model's default system text when it is the same format.
    if (recognized && recognized->format == *format) t.default_system = recognized->default_system;
    return t;
  }
  if (recognized) return *recognized;
  // Gemma GGUFs are often converted without tokenizer.chat_template (gemma-3-270m's is); the
  // architecture names the format then.
  if (const GgufValue* v = gguf.Find("general.architecture")) {
    Result<std::string_view> arch = v->AsString();
    if (arch.ok() && arch->substr(0, 5) == "gemma") return ChatTemplate{ChatFormat::kGemma, ""};
  }
  return ChatTemplate{};
}

std::string ApplyChatTemplate(const ChatTemplate& chat_template,
                              std::span<const ChatMessage> messages,
                              bool add_generation_prompt) {
  switch (chat_template.format) {
    case ChatFormat::kChatML:
      return RenderChatMl(chat_template, messages) +
             (add_generation_prompt ? "<|im_start|>assistant\n" : "");
    case ChatFormat::kLlama3:
      return RenderLlama3(messages) +
             (add_generation_prompt ? "<|start_header_id|>assistant<|end_header_id|>\n\n" : "");
    case ChatFormat::kLlama2:
      return RenderInst(messages, true);
    case ChatFormat::kMistral:
      return RenderInst(messages, false);
    case ChatFormat::kGemma:
      return RenderGemma(messages) + (add_generation_prompt ? "<start_of_turn>model\n" : "");
  }
  return {};
}

}  // namespace engram::inference
