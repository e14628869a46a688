#include "agent/internal/openai_request.h"

#include "common/json_read.h"

namespace engram::agent::internal {
namespace {

constexpr const char* kWhere = "request body";

// "content" is a string, or an array of parts of which the text parts are joined.
Result<std::string> MessageContent(const JsonValue& message) {
  if (!message.Has("content")) return std::string();
  Result<JsonValue> content = message.Field("content");
  if (!content.ok()) return content.status();
  if (!content->IsArray()) return content->String();
  Result<std::vector<JsonValue>> parts = content->Items();
  if (!parts.ok()) return parts.status();
  std::string text;
  for (const JsonValue& part : *parts) {
    Result<std::string> type = part.StringField("type");
    if (!type.ok()) return type.status();
    if (*type != "text") {
      return Status::InvalidArgument(part.Describe() + ": content part type '" + *type +
                                     "' is not supported; only \"text\"");
    }
    Result<std::string> piece = part.StringField("text");
    if (!piece.ok()) return piece.status();
    text += *piece;
  }
  return text;
}

Status ReadMessages(const JsonValue& root, const ChatLimits& limits, ChatRequest& out) {
  Result<std::vector<JsonValue>> messages = root.ArrayField("messages");
  if (!messages.ok()) return messages.status();
  if (messages->empty()) {
    return Status::InvalidArgument(std::string(kWhere) + ": messages is empty; give at least one");
  }
  if (messages->size() > limits.max_messages) {
    return Status::InvalidArgument(std::string(kWhere) + ": " + std::to_string(messages->size()) +
                                   " messages is more than the limit of " +
                                   std::to_string(limits.max_messages));
  }
  for (const JsonValue& m : *messages) {
    Result<std::string> role = m.StringField("role");
    if (!role.ok()) return role.status();
    if (*role == "developer") *role = "system";
    if (*role != "system" && *role != "user" && *role != "assistant" && *role != "tool") {
      return Status::InvalidArgument(m.Describe() + ".role: '" + *role +
                                     "' is not one of system, developer, user, assistant, tool");
    }
    Result<std::string> content = MessageContent(m);
    if (!content.ok()) return content.status();
    out.messages.push_back({*role, *content});
  }
  return Status::OK();
}

Status ReadStop(const JsonValue& root, ChatRequest& out) {
  if (!root.Has("stop")) return Status::OK();
  Result<JsonValue> stop = root.Field("stop");
  if (!stop.ok()) return stop.status();
  if (!stop->IsArray()) {
    Result<std::string> one = stop->String();
    if (!one.ok()) return one.status();
    out.generation.stop.push_back(*one);
    return Status::OK();
  }
  Result<std::vector<JsonValue>> items = stop->Items();
  if (!items.ok()) return items.status();
  if (items->size() > 4) {
    return Status::InvalidArgument(stop->Describe() + ": at most 4 stop strings");
  }
  for (const JsonValue& item : *items) {
    Result<std::string> s = item.String();
    if (!s.ok()) return s.status();
    out.generation.stop.push_back(*s);
  }
  return Status::OK();
}

Status ReadSampling(const JsonValue& root, const ChatLimits& limits, ChatRequest& out) {
  const char* max_field = root.Has("max_completion_tokens") ? "max_completion_tokens"
                                                            : "max_tokens";
  out.max_tokens_given = root.Has(max_field);
  Result<int64_t> max_tokens =
      root.IntFieldOr(max_field, limits.default_max_tokens, 1, limits.max_tokens);
  if (!max_tokens.ok()) return max_tokens.status();
  out.generation.max_tokens = static_cast<int32_t>(*max_tokens);
  inference::SamplerOptions& sampler = out.generation.sampler;
  Result<double> temperature = root.NumberFieldOr("temperature", 1.0);
  if (!temperature.ok()) return temperature.status();
  if (*temperature < 0.0 || *temperature > 2.0) {
    return Status::InvalidArgument(std::string(kWhere) + ": temperature " +
                                   std::to_string(*temperature) + " is outside [0, 2]");
  }
  sampler.temperature = static_cast<float>(*temperature);
  Result<double> top_p = root.NumberFieldOr("top_p", 1.0);
  if (!top_p.ok()) return top_p.status();
  if (*top_p <= 0.0 || *top_p > 1.0) {
    return Status::InvalidArgument(std::string(kWhere) + ": top_p " + std::to_string(*top_p) +
                                   " is outside (0, 1]");
  }
  sampler.top_p = static_cast<float>(*top_p);
  sampler.top_k = 0;         // OpenAI has no top_k
  sampler.min_p = 0.0f;
  sampler.repeat_penalty = 1.0f;
  for (const char* name : {"presence_penalty", "frequency_penalty"}) {
    Result<double> v = root.NumberFieldOr(name, 0.0);
    if (!v.ok()) return v.status();
    if (*v < -2.0 || *v > 2.0) {
      return Status::InvalidArgument(std::string(kWhere) + ": " + name + " " +
                                     std::to_string(*v) + " is outside [-2, 2]");
    }
    (std::string_view(name) == "presence_penalty" ? sampler.presence_penalty
                                                  : sampler.frequency_penalty) =
        static_cast<float>(*v);
  }
  if (root.Has("seed")) {
    Result<int64_t> seed = root.IntField("seed", 0, std::numeric_limits<int64_t>::max());
    if (!seed.ok()) return seed.status();
    sampler.seed = static_cast<uint64_t>(*seed);
  }
  Result<int64_t> n = root.IntFieldOr("n", 1, 1, 1);
  if (!n.ok()) return n.status().WithContext("only one choice per request is supported");
  return ReadStop(root, out);
}

Status ReadStreaming(const JsonValue& root, ChatRequest& out) {
  Result<bool> stream = root.BoolFieldOr("stream", false);
  if (!stream.ok()) return stream.status();
  out.stream = *stream;
  if (root.Has("stream_options")) {
    Result<JsonValue> options = root.Field("stream_options");
    if (!options.ok()) return options.status();
    if (!options->IsObject()) {
      return Status::InvalidArgument(options->Describe() + ": expected an object");
    }
    Result<bool> usage = options->BoolFieldOr("include_usage", false);
    if (!usage.ok()) return usage.status();
    out.include_usage = *usage;
  }
  return Status::OK();
}

// Options whose effect a client relies on: refused rather than silently ignored.
Status RefuseUnsupported(const JsonValue& root) {
  Result<bool> logprobs = root.BoolFieldOr("logprobs", false);
  if (!logprobs.ok()) return logprobs.status();
  if (*logprobs) {
    return Status::InvalidArgument(std::string(kWhere) + ": logprobs is not supported");
  }
  if (root.Has("response_format")) {
    Result<JsonValue> format = root.Field("response_format");
    if (!format.ok()) return format.status();
    Result<std::string> type = format->StringField("type");
    if (!type.ok()) return type.status();
    if (*type != "text") {
      return Status::InvalidArgument(std::string(kWhere) + ": response_format type '" + *type +
                                     "' is not supported; only \"text\"");
    }
  }
  return Status::OK();
}

}  // namespace

Result<ChatRequest> ParseChatRequest(const nlohmann::json& body, const ChatLimits& limits) {
  if (!body.is_object()) {
    return Status::InvalidArgument(std::string(kWhere) + ": expected a JSON object, got " +
                                   std::string(JsonTypeName(body)));
  }
  const JsonValue root(body, kWhere);
  ChatRequest out;
  if (Status s = ReadMessages(root, limits, out); !s.ok()) return s;
  if (Status s = ReadSampling(root, limits, out); !s.ok()) return s;
  if (Status s = ReadStreaming(root, out); !s.ok()) return s;
  Result<std::string> session = root.StringFieldOr("session", "");
  if (!session.ok()) return session.status();
  out.session = *session;
  if (root.Has("tools")) {
    if (!body["tools"].is_array()) {
      return Status::InvalidArgument(std::string(kWhere) + ": tools: expected an array, got " +
                                     std::string(JsonTypeName(body["tools"])));
    }
    out.tools = body["tools"];
  }
  Result<std::string> model = root.StringFieldOr("model", "");
  if (!model.ok()) return model.status();
  if (Status s = RefuseUnsupported(root); !s.ok()) return s;
  return out;
}

Result<EmbeddingRequest> ParseEmbeddingRequest(const nlohmann::json& body) {
  if (!body.is_object()) {
    return Status::InvalidArgument(std::string(kWhere) + ": expected a JSON object, got " +
                                   std::string(JsonTypeName(body)));
  }
  const JsonValue root(body, kWhere);
  Result<JsonValue> input = root.Field("input");
  if (!input.ok()) return input.status();
  EmbeddingRequest out;
  if (input->IsArray()) {
    Result<std::vector<JsonValue>> items = input->Items();
    if (!items.ok()) return items.status();
    for (const JsonValue& item : *items) {
      Result<std::string> text = item.String();
      if (!text.ok()) {
        return Status::InvalidArgument(item.Describe() +
                                       ": expected a string (token arrays are not supported)");
      }
      out.inputs.push_back(*text);
    }
  } else {
    Result<std::string> text = input->String();
    if (!text.ok()) return text.status();
    out.inputs.push_back(*text);
  }
  if (out.inputs.empty() || out.inputs.size() > kMaxEmbeddingInputs) {
    return Status::InvalidArgument(std::string(kWhere) + ": input holds " +
                                   std::to_string(out.inputs.size()) +
                                   " texts; give 1 to " + std::to_string(kMaxEmbeddingInputs));
  }
  Result<std::string> format = root.StringFieldOr("encoding_format", "float");
  if (!format.ok()) return format.status();
  if (*format != "float" && *format != "base64") {
    return Status::InvalidArgument(std::string(kWhere) + ": encoding_format '" + *format +
                                   "' is not \"float\" or \"base64\"");
  }
  out.base64 = *format == "base64";
  Result<std::string> model = root.StringFieldOr("model", "");
  if (!model.ok()) return model.status();
  return out;
}

}  // namespace engram::agent::internal
