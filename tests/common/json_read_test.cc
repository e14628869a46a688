// Typed JSON reading: every wrong type, missing field or out-of-range number in a document
// engram reads becomes one kInvalidArgument naming the document and the field path.
#include "common/json_read.h"

#include <gtest/gtest.h>

#include <string>


namespace engram {
namespace {

using json = nlohmann::json;

std::string MessageOf(const Status& s) { return std::string(s.message()); }

TEST(JsonReadTest, WrongTypesNameTheDocumentAndTheFieldPath) {
  const json doc = json::parse(R"({"hidden_size": "384", "layers": null, "list": [1, "two"],
                                   "nested": {"paragraphs": "x"}})");
  const JsonValue root(doc, "embedder config 'c.json'");
  Result<int64_t> hidden = root.IntField("hidden_size");
  ASSERT_FALSE(hidden.ok());
  EXPECT_EQ(hidden.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MessageOf(hidden.status()),
            "embedder config 'c.json': hidden_size: expected an integer, got a string");
  EXPECT_EQ(MessageOf(root.IntField("layers").status()),
            "embedder config 'c.json': layers: expected an integer, got null");
  EXPECT_EQ(MessageOf(root.IntField("missing").status()),
            "embedder config 'c.json': field 'missing' is missing");
  Result<std::vector<JsonValue>> list = root.ArrayField("list");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(MessageOf((*list)[1].Int().status()),
            "embedder config 'c.json': list[1]: expected an integer, got a string");
  Result<JsonValue> nested = root.Field("nested");
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(MessageOf(nested->ArrayField("paragraphs").status()),
            "embedder config 'c.json': nested.paragraphs: expected an array, got a string");
  // Reading a field of something that is not an object is the same kind of error.
  EXPECT_EQ(MessageOf((*list)[0].Field("x").status()),
            "embedder config 'c.json': list[0]: expected an object, got an integer");
}

// Every typed read against every JSON type: exactly the matching ones succeed.
TEST(JsonReadTest, EachAccessorAcceptsOnlyItsType) {
  const json values = json::parse(R"([null, true, 7, -7, 2.5, "s", [1], {"a": 1}])");
  const JsonValue root(values, "doc");
  Result<std::vector<JsonValue>> items = root.Items();
  ASSERT_TRUE(items.ok());
  const char* kinds[] = {"null", "bool", "int", "int", "float", "string", "array", "object"};
  for (size_t i = 0; i < items->size(); ++i) {
    const JsonValue& v = (*items)[i];
    const std::string kind = kinds[i];
    EXPECT_EQ(v.String().ok(), kind == "string") << kind;
    EXPECT_EQ(v.Bool().ok(), kind == "bool") << kind;
    EXPECT_EQ(v.Int().ok(), kind == "int") << kind;
    EXPECT_EQ(v.Number().ok(), kind == "int" || kind == "float") << kind;
    EXPECT_EQ(v.Items().ok(), kind == "array") << kind;
    EXPECT_EQ(v.Members().ok(), kind == "object") << kind;
  }
}

TEST(JsonReadTest, IntegersAreRangeChecked) {
  const json doc = json::parse(
      R"({"big": 18446744073709551615, "neg": -1, "whole": 3.0, "frac": 3.5, "huge": 1e300})");
  const JsonValue root(doc, "d");
  EXPECT_FALSE(root.IntField("big").ok());
  EXPECT_FALSE(root.IntField("neg", 0, 10).ok());
  EXPECT_NE(MessageOf(root.IntField("neg", 0, 10).status()).find("outside [0, 10]"),
            std::string::npos);
  ASSERT_TRUE(root.IntField("whole").ok());
  EXPECT_EQ(*root.IntField("whole"), 3);
  EXPECT_FALSE(root.IntField("frac").ok());
  EXPECT_FALSE(root.IntField("huge").ok());
  EXPECT_TRUE(root.NumberField("huge").ok());
}

TEST(JsonReadTest, OptionalFieldsFallBackOnlyWhenAbsentOrNull) {
  const json doc = json::parse(R"({"a": null, "b": "x", "c": 5})");
  const JsonValue root(doc, "d");
  EXPECT_EQ(*root.IntFieldOr("a", 9), 9);
  EXPECT_EQ(*root.IntFieldOr("zz", 9), 9);
  EXPECT_EQ(*root.IntFieldOr("c", 9), 5);
  EXPECT_FALSE(root.IntFieldOr("b", 9).ok());
  EXPECT_FALSE(root.StringFieldOr("c", "").ok());
  EXPECT_FALSE(root.BoolFieldOr("b", false).ok());
  // The container itself must be an object.
  const json arr = json::array();
  EXPECT_FALSE(JsonValue(arr, "d").IntFieldOr("a", 1).ok());
}

TEST(JsonReadTest, ParseErrorsAndDeepNestingAreStatuses) {
  Result<json> bad = ParseJsonText("{\"a\": [1, 2", "LoCoMo file 'x.json'");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(MessageOf(bad.status()).find("LoCoMo file 'x.json': not valid JSON"),
            std::string::npos);
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  Result<json> too_deep = ParseJsonText(deep, "d");
  ASSERT_FALSE(too_deep.ok());
  EXPECT_NE(MessageOf(too_deep.status()).find("nested deeper"), std::string::npos);
  EXPECT_TRUE(ParseJsonText(std::string(100, '[') + std::string(100, ']'), "d").ok());
}

}  // namespace
}  // namespace engram
