// Fuzz target for what `engram serve` reads from a request body before any work starts: the
// JSON parse, then the OpenAI chat-completion and embedding readers
// (agent/internal/openai_request.h) with their type and range checks. Errors are expected;
// crashes, hangs and exceptions are not. Built as a corpus replayer that ctest runs over
// tests/fuzz/corpus/request, and as a libFuzzer binary with clang (scripts/fuzz.sh).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/internal/openai_request.h"
#include "common/json_read.h"
#include "common/json_write.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto body = engram::ParseJsonText(text, "request body");
  if (!body.ok()) return 0;
  auto chat = engram::agent::internal::ParseChatRequest(*body, {});
  if (chat.ok() && !chat->tools.is_null()) (void)engram::JsonText(chat->tools);
  (void)engram::agent::internal::ParseEmbeddingRequest(*body);
  return 0;
}
