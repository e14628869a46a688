// The OpenAI request readers: what a client may send, and the one-line errors for what it may
// not.
#include "agent/internal/openai_request.h"

#include <gtest/gtest.h>

#include "common/json_read.h"

namespace engram::agent::internal {
namespace {

Result<ChatRequest> Chat(std::string_view text) {
  Result<nlohmann::json> body = ParseJsonText(text, "request body");
  EXPECT_TRUE(body.ok()) << body.status().ToString();
  return ParseChatRequest(*body, {.max_tokens = 512, .default_max_tokens = 64});
}

std::string Error(std::string_view text) {
  Result<ChatRequest> r = Chat(text);
  EXPECT_FALSE(r.ok()) << text;
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

TEST(OpenAiRequestTest, ReadsAChatRequest) {
  Result<ChatRequest> r = Chat(
      R"({"model":"gpt-4o","messages":[{"role":"developer","content":"Be brief."},
          {"role":"user","content":[{"type":"text","text":"Hel"},{"type":"text","text":"lo"}]}],
          "max_tokens":32,"temperature":0,"top_p":0.5,"seed":9,"stop":"\n",
          "stream":true,"stream_options":{"include_usage":true},"session":"abc",
          "tools":[{"type":"function","function":{"name":"f"}}],"user":"ignored"})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->messages.size(), 2u);
  EXPECT_EQ(r->messages[0].role, "system");
  EXPECT_EQ(r->messages[1].content, "Hello");
  EXPECT_EQ(r->generation.max_tokens, 32);
  EXPECT_TRUE(r->max_tokens_given);
  EXPECT_EQ(r->generation.sampler.temperature, 0.0f);
  EXPECT_EQ(r->generation.sampler.top_p, 0.5f);
  EXPECT_EQ(r->generation.sampler.seed, 9u);
  EXPECT_EQ(r->generation.stop, std::vector<std::string>{"\n"});
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_EQ(r->session, "abc");
  EXPECT_TRUE(r->tools.is_array());

  Result<ChatRequest> plain = Chat(R"({"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->generation.max_tokens, 64);  // the server's default
  EXPECT_FALSE(plain->max_tokens_given);
  EXPECT_FALSE(plain->stream);
}

TEST(OpenAiRequestTest, RejectsBadRequestsNamingTheField) {
  EXPECT_NE(Error(R"([1,2])").find("expected a JSON object"), std::string::npos);
  EXPECT_NE(Error(R"({})").find("messages"), std::string::npos);
  EXPECT_NE(Error(R"({"messages":[]})").find("messages is empty"), std::string::npos);
  EXPECT_NE(Error(R"({"messages":[{"role":"user","content":5}]})").find("messages[0].content"),
            std::string::npos);
  EXPECT_NE(Error(R"({"messages":[{"role":"wizard","content":"x"}]})").find("wizard"),
            std::string::npos);
  const std::string ok_messages = R"("messages":[{"role":"user","content":"x"}])";
  EXPECT_NE(Error("{" + ok_messages + R"(,"max_tokens":100000000})").find("max_tokens"),
            std::string::npos);
  EXPECT_NE(Error("{" + ok_messages + R"(,"max_tokens":"10"})").find("max_tokens"),
            std::string::npos);
  EXPECT_NE(Error("{" + ok_messages + R"(,"max_tokens":0})").find("max_tokens"),
            std::string::npos);
  EXPECT_NE(Error("{" + ok_messages + R"(,"temperature":3})").find("temperature"),
            std::string::npos);
  EXPECT_NE(Error("{" + ok_messages + R"(,"top_p":0})").find("top_p"), std::string::npos);
  EXPECT_NE(Error("{" + ok_messages + R"(,"stop":[1]})").find("stop[0]"), std::string::npos);
  EXPECT_NE(Error("{" + ok_messages + R"(,"stop":["a","b","c","d","e"]})").find("at most 4"),
            std::string::npos);
  EXPECT_NE(Error("{" + ok_messages + R"(,"n":2})").find("one choice"), std::string::npos);
  EXPECT_NE(Error("{" + ok_messages + R"(,"seed":-1})").find("seed"), std::string::npos);
  EXPECT_NE(Error("{" + ok_messages + R"(,"stream":"yes"})").find("stream"), std::string::npos);
  EXPECT_NE(Error("{" + ok_messages + R"(,"tools":{}})").find("tools"), std::string::npos);
  EXPECT_NE(Error("{" + ok_messages + R"(,"logprobs":true})").find("logprobs"),
            std::string::npos);
  EXPECT_NE(Error("{" + ok_messages + R"(,"response_format":{"type":"json_object"}})")
                .find("json_object"),
            std::string::npos);
  EXPECT_TRUE(Chat("{" + ok_messages + R"(,"logprobs":false,"response_format":{"type":"text"}})")
                  .ok());
  EXPECT_NE(
      Error(R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]})")
          .find("image_url"),
      std::string::npos);
}

TEST(OpenAiRequestTest, ReadsEmbeddingRequests) {
  auto parse = [](std::string_view text) {
    return ParseEmbeddingRequest(*ParseJsonText(text, "request body"));
  };
  Result<EmbeddingRequest> one = parse(R"({"input":"hello","model":"m"})");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->inputs, std::vector<std::string>{"hello"});
  EXPECT_FALSE(one->base64);
  Result<EmbeddingRequest> two = parse(R"({"input":["a","b"],"encoding_format":"base64"})");
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->inputs.size(), 2u);
  EXPECT_TRUE(two->base64);
  EXPECT_FALSE(parse(R"({"input":[]})").ok());
  EXPECT_FALSE(parse(R"({"input":[[1,2]]})").ok());
  EXPECT_FALSE(parse(R"({"input":"a","encoding_format":"hex"})").ok());
  EXPECT_FALSE(parse(R"({"model":"m"})").ok());
}

}  // namespace
}  // namespace engram::agent::internal
