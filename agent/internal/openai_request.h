// OpenAI request bodies (chat completions, embeddings) read into engram's options, with every
// field type- and range-checked: a bad request becomes one kInvalidArgument naming the field
// ("request body: messages[2].content: expected a string, got a number"), never an exception.
// Unknown fields are ignored, as OpenAI's own clients send fields a server may not know.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "inference/chat_template.h"
#include "inference/generate.h"

namespace engram::agent::internal {

struct ChatRequest {
  std::vector<inference::ChatMessage> messages;  // roles system, user, assistant, tool
  inference::GenerateOptions generation;         // max_tokens, sampler, stop
  bool stream = false;
  bool include_usage = false;   // stream_options.include_usage
  std::string session;          // "session" (an engram session: the turn goes through memory)
  nlohmann::json tools;         // OpenAI "tools" (null when absent)
  bool max_tokens_given = false;
};

struct ChatLimits {
  int max_tokens = 4096;
  int default_max_tokens = 256;
  size_t max_messages = 1024;
};

Result<ChatRequest> ParseChatRequest(const nlohmann::json& body, const ChatLimits& limits);

struct EmbeddingRequest {
  std::vector<std::string> inputs;
  bool base64 = false;  // encoding_format "base64" (little-endian float32), else "float"
};

inline constexpr size_t kMaxEmbeddingInputs = 2048;

Result<EmbeddingRequest> ParseEmbeddingRequest(const nlohmann::json& body);

}  // namespace engram::agent::internal
