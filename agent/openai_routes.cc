// OpenAI-compatible routes: GET /v1/models, POST /v1/chat/completions (plain, streamed as
// server-sent events, or through an engram session's memory), POST /v1/embeddings.
//
// Generation runs on the scheduler (or an agent turn); this thread waits on a TextChannel,
// writes what arrives, and cancels the work when the client goes away.
#include <chrono>
#include <memory>

#include "agent/agent_runtime.h"
#include "agent/internal/openai_request.h"
#include "agent/internal/route_helpers.h"
#include "agent/internal/streamed_turn.h"
#include "agent/internal/tool_calls.h"
#include "agent/internal/tool_loop.h"
#include "agent/internal/text_channel.h"
#include "agent/server.h"
#include "common/json_write.h"
#include "common/random_id.h"

namespace engram::agent {
namespace {

using internal::ChatRequest;
using internal::TextChannel;
using json = nlohmann::json;
constexpr std::chrono::milliseconds kPoll{100};

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What a finished generation (stateless or a turn) reports.
struct Outcome {
  Status status;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  std::string finish_reason = "stop";
  json tool_calls;  // OpenAI tool_calls (null: none)
  double decode_seconds = 0.0, first_token_seconds = 0.0;
};

std::string FinishReason(inference::StopReason reason) {
  return reason == inference::StopReason::kMaxTokens ||
                 reason == inference::StopReason::kContextFull
             ? "length"
             : "stop";
}

json Usage(const Outcome& o) {
  return {{"prompt_tokens", o.prompt_tokens},
          {"completion_tokens", o.completion_tokens},
          {"total_tokens", o.prompt_tokens + o.completion_tokens}};
}

// A started generation: its channel, how to cancel it, and (for a turn) how to learn how it
// ended once the channel is closed.
struct Running {
  std::shared_ptr<TextChannel> channel = std::make_shared<TextChannel>();
  std::shared_ptr<Outcome> outcome = std::make_shared<Outcome>();
  std::function<void()> cancel = [] {};
  std::unique_ptr<internal::StreamedTurn> turn;
};

// Stateless chat on the scheduler. On error nothing was started.
Status StartPlain(Services& sv, const ChatRequest& chat, Running& run) {
  GenerationRequest request;
  request.prompt = sv.engine->EncodeChat(chat.messages);
  request.generation = chat.generation;
  request.deadline = std::chrono::steady_clock::now() + sv.limits.request_timeout;
  std::shared_ptr<TextChannel> channel = run.channel;
  std::shared_ptr<Outcome> outcome = run.outcome;
  Result<std::shared_ptr<Ticket>> ticket = sv.scheduler->Submit(
      std::move(request), [channel](std::string_view text) { return channel->Push(text); },
      [channel, outcome](Result<Completion> done) {
        if (done.ok()) {
          outcome->prompt_tokens = done->stats.prompt_tokens;
          outcome->completion_tokens = done->stats.generated_tokens;
          outcome->finish_reason = FinishReason(done->stats.reason);
          outcome->decode_seconds = done->stats.decode_ms / 1000.0;
          outcome->first_token_seconds = done->first_token_ms / 1000.0;
        } else {
          outcome->status = done.status();
        }
        channel->Close();
      });
  if (!ticket.ok()) return ticket.status();
  std::shared_ptr<Ticket> t = *ticket;
  run.cancel = [t] { t->Cancel(); };
  return Status::OK();
}


json ToolCallsJson(const std::vector<ToolCall>& calls) {
  json out = json::array();
  for (const ToolCall& c : calls) {
    out.push_back({{"id", c.id},
                   {"type", "function"},
                   {"function", {{"name", c.name}, {"arguments", JsonText(c.arguments)}}}});
  }
  return out;
}

// The request's messages with the tool instructions in the system message, and tool results
// (role "tool") as the <tool_response> user messages the tool loop itself feeds back.
std::vector<inference::ChatMessage> WithTools(const std::vector<inference::ChatMessage>& messages,
                                              const std::vector<internal::ToolSpec>& tools) {
  std::vector<inference::ChatMessage> out;
  const std::string instructions = internal::ToolInstructions(tools);
  if (messages.empty() || messages.front().role != "system") {
    out.push_back({"system", instructions});
  }
  for (const inference::ChatMessage& m : messages) {
    if (m.role == "system" && out.empty()) {
      out.push_back({"system", m.content + "\n\n" + instructions});
    } else if (m.role == "tool") {
      out.push_back({"user", internal::ToolResponse("tool", m.content)});
    } else {
      out.push_back(m);
    }
  }
  return out;
}

// Stateless chat with the client's OpenAI tools: the tool loop with no built-in tools, so a
// call comes back as tool_calls and a malformed one is reported to the model once.
Status StartToolChat(Services& sv, const ChatRequest& chat, Running& run) {
  Result<std::vector<internal::ToolSpec>> tools = internal::ToolsFromOpenAi(chat.tools);
  if (!tools.ok()) return tools.status();
  internal::GenerationInput input;
  input.messages = WithTools(chat.messages, *tools);
  input.generation = chat.generation;
  input.deadline = std::chrono::steady_clock::now() + sv.limits.request_timeout;
  input.tools = *tools;
  std::shared_ptr<TextChannel> channel = run.channel;
  run.cancel = [channel] { channel->Cancel(); };
  run.turn = std::make_unique<internal::StreamedTurn>(
      [&sv, input](const internal::StreamedTurn::OnText& on_text) -> Result<TurnResult> {
        Result<internal::GenerationOutput> out = internal::GenerateWithTools(
            internal::SchedulerGenerate(*sv.scheduler, *sv.engine), input, {}, on_text);
        if (!out.ok()) return out.status();
        return internal::TurnResultOf(std::move(*out));
      },
      channel);
  return Status::OK();
}

// A turn of an engram session: the last user message is the turn's input.
Status StartTurn(Services& sv, const Tenant& tenant, const std::string& session,
                 const ChatRequest& chat, Running& run) {
  if (sv.agent == nullptr) return Status::Unavailable("sessions are not enabled on this server");
  if (Result<SessionInfo> info = sv.agent->GetSession(tenant, session); !info.ok()) {
    return info.status();
  }
  TurnRequest turn;
  for (auto it = chat.messages.rbegin(); it != chat.messages.rend(); ++it) {
    if (it->role == "user") {
      turn.user_text = it->content;
      break;
    }
  }
  if (turn.user_text.empty()) {
    return Status::InvalidArgument("request body: messages: a session turn needs a user message");
  }
  if (chat.max_tokens_given) turn.max_tokens = chat.generation.max_tokens;
  turn.temperature = chat.generation.sampler.temperature;
  turn.top_p = chat.generation.sampler.top_p;
  if (chat.generation.sampler.seed != inference::kRandomSeed) {
    turn.seed = chat.generation.sampler.seed;
  }
  turn.stop = chat.generation.stop;
  turn.tools = chat.tools;
  turn.deadline = std::chrono::steady_clock::now() + sv.limits.request_timeout;
  std::shared_ptr<TextChannel> channel = run.channel;
  run.cancel = [channel] { channel->Cancel(); };
  run.turn = std::make_unique<internal::StreamedTurn>(
      [&sv, tenant, session, turn](const internal::StreamedTurn::OnText& on_text) {
        return sv.agent->Turn(tenant, session, turn, on_text);
      },
      channel);
  return Status::OK();
}

json Chunk(const std::string& id, int64_t created, const std::string& model, json delta,
           json finish_reason) {
  return {{"id", id},
          {"object", "chat.completion.chunk"},
          {"created", created},
          {"model", model},
          {"choices", json::array({{{"index", 0}, {"delta", std::move(delta)},
                                    {"finish_reason", std::move(finish_reason)}}})}};
}

// Once the channel is closed: a turn's result into the outcome.
void FinishTurn(Running& run) {
  if (!run.turn) return;
  Result<TurnResult> r = run.turn->Finish();
  Outcome& o = *run.outcome;
  if (!r.ok()) {
    o.status = r.status();
    return;
  }
  o.prompt_tokens = r->prompt_tokens;
  o.completion_tokens = r->completion_tokens;
  o.finish_reason = r->finish_reason;
  o.decode_seconds = r->decode_ms / 1000.0;
  o.first_token_seconds = r->first_token_ms / 1000.0;
  if (!r->client_tool_calls.empty()) o.tool_calls = ToolCallsJson(r->client_tool_calls);
}

// Writes the stream as it comes; cancels when the client is gone.
void StreamChat(Services& sv, const ChatRequest& chat, Running& run, ResponseWriter& out) {
  const std::string id = "chatcmpl-" + RandomHex(12);
  const int64_t created = UnixSeconds();
  bool open = out.StartEvents() &&
              out.Event(JsonText(Chunk(id, created, sv.model_id,
                                       {{"role", "assistant"}, {"content", ""}}, nullptr)));
  std::string text;
  for (;;) {
    const TextChannel::Wait w = run.channel->Next(&text, kPoll);
    if (w == TextChannel::kClosed) break;
    if (!open || (w == TextChannel::kTimeout && out.ClientGone())) {
      open = false;
      run.cancel();
      continue;  // wait for the producer to close
    }
    if (w == TextChannel::kText) {
      open = out.Event(JsonText(Chunk(id, created, sv.model_id, {{"content", text}}, nullptr)));
    }
  }
  FinishTurn(run);
  if (!open) return;
  const Outcome& o = *run.outcome;
  if (!o.status.ok()) {
    out.Event(JsonText(json{{"error", {{"message", std::string(o.status.message())},
                                       {"type", "server_error"}}}}));
  } else {
    json delta = json::object();
    if (!o.tool_calls.is_null()) delta["tool_calls"] = o.tool_calls;
    out.Event(JsonText(Chunk(id, created, sv.model_id, delta, o.finish_reason)));
    if (chat.include_usage) {
      json usage = Chunk(id, created, sv.model_id, json::object(), nullptr);
      usage["choices"] = json::array();
      usage["usage"] = Usage(o);
      out.Event(JsonText(usage));
    }
  }
  out.Event("[DONE]");
  out.EndEvents();
}

// Waits for the whole reply, then answers with one chat.completion object.
void RespondChat(Services& sv, Running& run, ResponseWriter& out) {
  std::string text, piece;
  internal::DisconnectWatch watch(out);
  bool gone = false;
  for (;;) {
    const TextChannel::Wait w = run.channel->Next(&piece, kPoll);
    if (w == TextChannel::kClosed) break;
    if (w == TextChannel::kText) text += piece;
    if (!gone && watch.Gone()) {
      gone = true;
      run.cancel();
    }
  }
  FinishTurn(run);
  if (gone) return;
  const Outcome& o = *run.outcome;
  if (!o.status.ok()) {
    out.Error(o.status);
    return;
  }
  json message = {{"role", "assistant"}, {"content", text}};
  if (!o.tool_calls.is_null()) message["tool_calls"] = o.tool_calls;
  out.Json(200, {{"id", "chatcmpl-" + RandomHex(12)},
                 {"object", "chat.completion"},
                 {"created", UnixSeconds()},
                 {"model", sv.model_id},
                 {"choices", json::array({{{"index", 0},
                                           {"message", std::move(message)},
                                           {"logprobs", nullptr},
                                           {"finish_reason", o.finish_reason}}})},
                 {"usage", Usage(o)}});
}

void ChatCompletions(Services& sv, const HttpRequest& req, ResponseWriter& out) {
  Result<json> body = req.JsonBody();
  if (!body.ok()) return out.Error(body.status());
  Result<ChatRequest> chat = internal::ParseChatRequest(
      *body, {.max_tokens = sv.limits.max_tokens,
              .default_max_tokens = sv.limits.default_max_tokens});
  if (!chat.ok()) return out.Error(chat.status());
  std::string session = chat->session;
  if (auto h = req.headers.find("x-engram-session"); session.empty() && h != req.headers.end()) {
    session = h->second;
  }
  Running run;
  const bool tools = chat->tools.is_array() && !chat->tools.empty();
  const Status started = !session.empty() ? StartTurn(sv, req.tenant, session, *chat, run)
                         : tools          ? StartToolChat(sv, *chat, run)
                                          : StartPlain(sv, *chat, run);
  if (!started.ok()) return out.Error(started);
  if (chat->stream) {
    StreamChat(sv, *chat, run, out);
  } else {
    RespondChat(sv, run, out);
  }
  const Outcome& o = *run.outcome;
  if (sv.metrics != nullptr && o.status.ok()) {
    sv.metrics->AddTokens(o.prompt_tokens, o.completion_tokens, o.decode_seconds,
                          o.first_token_seconds);
  }
}

std::string Base64Floats(std::span<const float> values) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* bytes = reinterpret_cast<const unsigned char*>(values.data());
  const size_t n = values.size() * sizeof(float);
  std::string out;
  for (size_t i = 0; i < n; i += 3) {
    const uint32_t b = (uint32_t{bytes[i]} << 16) | (i + 1 < n ? uint32_t{bytes[i + 1]} << 8 : 0) |
                       (i + 2 < n ? bytes[i + 2] : 0);
    out += kAlphabet[(b >> 18) & 63];
    out += kAlphabet[(b >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(b >> 6) & 63] : '=';
    out += i + 2 < n ? kAlphabet[b & 63] : '=';
  }
  return out;
}

void Embeddings(Services& sv, const HttpRequest& req, ResponseWriter& out) {
  Result<json> body = req.JsonBody();
  if (!body.ok()) return out.Error(body.status());
  Result<internal::EmbeddingRequest> parsed = internal::ParseEmbeddingRequest(*body);
  if (!parsed.ok()) return out.Error(parsed.status());
  if (sv.embedder == nullptr) return out.Error(Status::Unavailable("no embedder is loaded"));
  Result<retrieval::EmbeddingBatch> batch = sv.embedder->Embed(parsed->inputs);
  if (!batch.ok()) return out.Error(batch.status());
  json data = json::array();
  int64_t tokens = 0;
  for (size_t i = 0; i < batch->rows(); ++i) {
    tokens += batch->tokens[i];
    json embedding = parsed->base64 ? json(Base64Floats(batch->Row(i)))
                                    : json(std::vector<float>(batch->Row(i).begin(),
                                                              batch->Row(i).end()));
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", std::move(embedding)}});
  }
  out.Json(200, {{"object", "list"},
                 {"data", std::move(data)},
                 {"model", std::string(sv.embedder->Name())},
                 {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
}

json ModelJson(const std::string& id) {
  return {{"id", id}, {"object", "model"}, {"created", 0}, {"owned_by", "engram"}};
}

}  // namespace

void AddOpenAiRoutes(Router& router, Services& sv) {
  router.Add("GET", "/v1/models", [&sv](const HttpRequest&, ResponseWriter& out) {
    out.Json(200, {{"object", "list"}, {"data", json::array({ModelJson(sv.model_id)})}});
  });
  router.Add("GET", "/v1/models/{id}", [&sv](const HttpRequest& req, ResponseWriter& out) {
    if (req.params.at("id") != sv.model_id) {
      return out.Error(404, "not_found_error",
                       "model '" + req.params.at("id") + "' does not exist; GET /v1/models lists " +
                           "the served one");
    }
    out.Json(200, ModelJson(sv.model_id));
  });
  router.Add("POST", "/v1/chat/completions", [&sv](const HttpRequest& req, ResponseWriter& out) {
    ChatCompletions(sv, req, out);
  });
  router.Add("POST", "/v1/embeddings", [&sv](const HttpRequest& req, ResponseWriter& out) {
    Embeddings(sv, req, out);
  });
}

}  // namespace engram::agent
