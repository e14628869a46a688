// The strict tool-call parser (agent/internal/tool_calls.h): well-formed calls, every kind of
// malformed output, several calls, text around calls, and the OpenAI tools array.
#include "agent/internal/tool_calls.h"

#include <gtest/gtest.h>

namespace engram::agent::internal {
namespace {

using nlohmann::json;

std::vector<ToolSpec> Tools() {
  std::vector<ToolSpec> tools = BuiltinTools();
  json client = json::array(
      {{{"type", "function"},
        {"function",
         {{"name", "get_weather"},
          {"description", "Weather of a city"},
          {"parameters",
           {{"type", "object"},
            {"properties", {{"city", {{"type", "string"}}}, {"unit", {{"type", "string"}}}}},
            {"required", {"city"}}}}}}}});
  Result<std::vector<ToolSpec>> parsed = ToolsFromOpenAi(client);
  EXPECT_TRUE(parsed.ok()) << parsed.status().message();
  tools.insert(tools.end(), parsed->begin(), parsed->end());
  return tools;
}

TEST(ToolCallsTest, ParsesOneValidCall) {
  ParsedOutput out = ParseToolCalls(
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
      "\"Porto\"}}\n</tool_call>",
      Tools());
  ASSERT_EQ(out.error, "");
  ASSERT_EQ(out.calls.size(), 1u);
  EXPECT_EQ(out.calls[0].name, "get_weather");
  EXPECT_EQ(out.calls[0].arguments["city"], "Porto");
  EXPECT_EQ(out.text, "");
}

TEST(ToolCallsTest, PlainTextHasNoCalls) {
  ParsedOutput out = ParseToolCalls("  Ana lives in Porto.  ", Tools());
  EXPECT_EQ(out.error, "");
  EXPECT_TRUE(out.calls.empty());
  EXPECT_EQ(out.text, "Ana lives in Porto.");
}

TEST(ToolCallsTest, KeepsTextAroundCallsAndParsesSeveral) {
  ParsedOutput out = ParseToolCalls(
      "Let me check. <tool_call>{\"name\": \"recall_memory\", \"arguments\": {\"query\": "
      "\"Ana\"}}</tool_call> and <tool_call>{\"name\": \"get_weather\", \"arguments\": "
      "{\"city\": \"Porto\", \"unit\": \"C\"}}</tool_call> done.",
      Tools());
  ASSERT_EQ(out.error, "");
  ASSERT_EQ(out.calls.size(), 2u);
  EXPECT_EQ(out.calls[0].name, "recall_memory");
  EXPECT_EQ(out.calls[1].name, "get_weather");
  EXPECT_EQ(out.calls[1].arguments["unit"], "C");
  EXPECT_NE(out.calls[0].id, out.calls[1].id);
  EXPECT_EQ(out.text, "Let me check.  and  done.");
}

TEST(ToolCallsTest, RejectsInvalidJson) {
  ParsedOutput out = ParseToolCalls(
      "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": }</tool_call>", Tools());
  EXPECT_NE(out.error.find("not valid JSON"), std::string::npos) << out.error;
  EXPECT_TRUE(out.calls.empty());
}

TEST(ToolCallsTest, RejectsNonObjectCall) {
  EXPECT_NE(ParseToolCalls("<tool_call>[1, 2]</tool_call>", Tools()).error.find("object"),
            std::string::npos);
  EXPECT_NE(ParseToolCalls("<tool_call>\"get_weather\"</tool_call>", Tools()).error, "");
}

TEST(ToolCallsTest, RejectsUnknownTool) {
  ParsedOutput out =
      ParseToolCalls("<tool_call>{\"name\": \"launch\", \"arguments\": {}}</tool_call>", Tools());
  EXPECT_NE(out.error.find("unknown tool 'launch'"), std::string::npos) << out.error;
  EXPECT_NE(out.error.find("get_weather"), std::string::npos) << "names the known tools";
}

TEST(ToolCallsTest, RejectsMissingRequiredArgument) {
  ParsedOutput out = ParseToolCalls(
      "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"unit\": \"C\"}}</tool_call>",
      Tools());
  EXPECT_NE(out.error.find("argument 'city' is required"), std::string::npos) << out.error;
  out = ParseToolCalls(
      "<tool_call>{\"name\": \"remember\", \"arguments\": {\"text\": null}}</tool_call>", Tools());
  EXPECT_NE(out.error.find("'text' is required"), std::string::npos) << out.error;
}

TEST(ToolCallsTest, RejectsArgumentsThatAreNotAnObject) {
  for (const char* args : {"\"{\\\"city\\\": \\\"Porto\\\"}\"", "[]", "null", "3"}) {
    const std::string text = std::string("<tool_call>{\"name\": \"get_weather\", \"arguments\": ") +
                             args + "}</tool_call>";
    EXPECT_NE(ParseToolCalls(text, Tools()).error.find("must be an object"), std::string::npos)
        << text;
  }
  EXPECT_NE(ParseToolCalls("<tool_call>{\"name\": \"get_weather\"}</tool_call>", Tools()).error,
            "");
}

TEST(ToolCallsTest, RejectsNameThatIsNotAString) {
  EXPECT_NE(ParseToolCalls("<tool_call>{\"name\": 3, \"arguments\": {}}</tool_call>", Tools())
                .error.find("\"name\" must be a string"),
            std::string::npos);
}

TEST(ToolCallsTest, RejectsUnclosedAndStrayTags) {
  ParsedOutput out = ParseToolCalls(
      "Sure <tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Porto\"}}", Tools());
  EXPECT_NE(out.error.find("not closed"), std::string::npos);
  EXPECT_EQ(out.text, "Sure");
  out = ParseToolCalls("oops </tool_call>", Tools());
  EXPECT_NE(out.error.find("without an opening"), std::string::npos);
}

TEST(ToolCallsTest, KeepsTheGoodCallsBeforeAnError) {
  ParsedOutput out = ParseToolCalls(
      "<tool_call>{\"name\": \"remember\", \"arguments\": {\"text\": \"x\"}}</tool_call>"
      "<tool_call>{\"name\": \"nope\", \"arguments\": {}}</tool_call>",
      Tools());
  EXPECT_NE(out.error, "");
  ASSERT_EQ(out.calls.size(), 1u);
  EXPECT_EQ(out.calls[0].name, "remember");
}

TEST(ToolCallsTest, RejectsExtraFieldsInACall) {
  EXPECT_NE(ParseToolCalls("<tool_call>{\"name\": \"remember\", \"arguments\": {\"text\": "
                           "\"x\"}, \"id\": 3}</tool_call>",
                           Tools())
                .error.find("unexpected field 'id'"),
            std::string::npos);
}

TEST(ToolCallsTest, OpenAiToolsAreCheckedEntryByEntry) {
  EXPECT_TRUE(ToolsFromOpenAi(json()).ok());
  EXPECT_TRUE(ToolsFromOpenAi(json::array())->empty());
  EXPECT_FALSE(ToolsFromOpenAi(json::object()).ok());
  Result<std::vector<ToolSpec>> bad = ToolsFromOpenAi(json::parse(R"([{"type": "retrieval"}])"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("tools[0]"), std::string::npos);
  bad = ToolsFromOpenAi(json::parse(R"([{"type": "function", "function": {"name": "remember"}}])"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("taken"), std::string::npos);
  bad = ToolsFromOpenAi(json::parse(
      R"([{"type": "function", "function": {"name": "a"}}, {"type": "function", "function": {"name": "a"}}])"));
  EXPECT_FALSE(bad.ok());
  bad = ToolsFromOpenAi(json::parse(
      R"([{"type": "function", "function": {"name": "a", "parameters": {"required": "x"}}}])"));
  EXPECT_FALSE(bad.ok());
  Result<std::vector<ToolSpec>> good =
      ToolsFromOpenAi(json::parse(R"([{"type": "function", "function": {"name": "ping"}}])"));
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(ParseToolCalls("<tool_call>{\"name\": \"ping\", \"arguments\": {}}</tool_call>", *good)
                .calls.size(),
            1u);
}

TEST(ToolCallsTest, InstructionsNameEveryTool) {
  const std::string text = ToolInstructions(Tools());
  for (const char* name :
       {"search_documents", "recall_memory", "remember", "forget", "get_weather"}) {
    EXPECT_NE(text.find(name), std::string::npos) << name;
  }
  EXPECT_NE(text.find("<tool_call>"), std::string::npos);
}

}  // namespace
}  // namespace engram::agent::internal
