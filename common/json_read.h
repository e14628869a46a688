// Typed reading of JSON that engram did not write itself (model configs, eval data, and later
// request bodies). A missing field, a wrong type or an out-of-range number becomes a Status
// that names the document and the field path, never an exception:
//
//   Result<nlohmann::json> doc = ReadJsonFile(path, "SQuAD file");
//   if (!doc.ok()) return doc.status();
//   JsonValue root(*doc, "SQuAD file '" + path + "'");
//   Result<std::vector<JsonValue>> articles = root.ArrayField("data");
//   ...  // "SQuAD file 'dev.json': data[0].paragraphs: expected an array, got a string"
//
// A JsonValue points into a document the caller keeps alive.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/input_file.h"
#include "common/result.h"

namespace engram {

// Parses `text` (no exceptions); a syntax error names `where` and the byte offset.
Result<nlohmann::json> ParseJsonText(std::string_view text, std::string_view where);

// Reads (through common/input_file.h: regular files only, bounded) and parses a JSON file.
// `what` names its role: "embedder config", "LoCoMo file".
Result<nlohmann::json> ReadJsonFile(const std::filesystem::path& path, std::string_view what,
                                    uint64_t max_bytes = kMaxJsonFileBytes);

class JsonValue {
 public:
  // `where` names the document ("embedder config '/m/config.json'").
  JsonValue(const nlohmann::json& value, std::string where)
      : value_(&value), where_(std::move(where)) {}

  const nlohmann::json& raw() const { return *value_; }
  // The document and the path to this value: "LoCoMo file 'x.json': [3].qa[0].evidence".
  std::string Describe() const;

  bool IsNull() const { return value_->is_null(); }
  bool IsObject() const { return value_->is_object(); }
  bool IsArray() const { return value_->is_array(); }
  // True when this is an object holding `key` with a non-null value.
  bool Has(std::string_view key) const;

  // Required: this must be an object holding `key`.
  Result<JsonValue> Field(std::string_view key) const;
  // The elements of an array.
  Result<std::vector<JsonValue>> Items() const;
  // The members of an object, in document order.
  Result<std::vector<std::pair<std::string, JsonValue>>> Members() const;

  Result<std::string> String() const;
  Result<bool> Bool() const;
  // A finite number.
  Result<double> Number() const;
  // An integer (a JSON integer, or a float with no fraction) within [min, max].
  Result<int64_t> Int(int64_t min = std::numeric_limits<int64_t>::min(),
                      int64_t max = std::numeric_limits<int64_t>::max()) const;

  // Field(key) then the typed read.
  Result<std::string> StringField(std::string_view key) const;
  Result<double> NumberField(std::string_view key) const;
  Result<int64_t> IntField(std::string_view key,
                           int64_t min = std::numeric_limits<int64_t>::min(),
                           int64_t max = std::numeric_limits<int64_t>::max()) const;
  Result<std::vector<JsonValue>> ArrayField(std::string_view key) const;

  // Optional fields: absent or null gives `fallback`; present with a wrong type is an error.
  Result<std::string> StringFieldOr(std::string_view key, std::string fallback) const;
  Result<double> NumberFieldOr(std::string_view key, double fallback) const;
  Result<int64_t> IntFieldOr(std::string_view key, int64_t fallback,
                             int64_t min = std::numeric_limits<int64_t>::min(),
                             int64_t max = std::numeric_limits<int64_t>::max()) const;
  Result<bool> BoolFieldOr(std::string_view key, bool fallback) const;

 private:
  JsonValue(const nlohmann::json& value, std::string where, std::string path)
      : value_(&value), where_(std::move(where)), path_(std::move(path)) {}
  Status WrongType(std::string_view expected) const;

  const nlohmann::json* value_;
  std::string where_;
  std::string path_;  // "", "data", "data[0].paragraphs"
};

// "a string", "an array", "null": a JSON value's type in messages.
std::string_view JsonTypeName(const nlohmann::json& value);

}  // namespace engram
