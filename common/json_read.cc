#include "common/json_read.h"

#include <cmath>

namespace engram {

using json = nlohmann::json;

std::string_view JsonTypeName(const json& value) {
  switch (value.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    case json::value_t::binary: return "binary data";
    case json::value_t::discarded: return "invalid JSON";
  }
  return "an unknown type";
}

Result<json> ParseJsonText(std::string_view text, std::string_view where) {
  try {
    // nlohmann's parser recurses per nesting level; the callback stops a document nested deeper
    // than any real one before it can exhaust the stack.
    constexpr int kMaxDepth = 512;
    bool too_deep = false;
    json::parser_callback_t limit = [&](int depth, json::parse_event_t, json&) {
      if (depth > kMaxDepth) too_deep = true;
      return !too_deep;
    };
    json value = json::parse(text.begin(), text.end(), limit, /*allow_exceptions=*/true);
    if (too_deep) {
      return Status::InvalidArgument(std::string(where) + ": JSON nested deeper than " +
                                     std::to_string(kMaxDepth) + " levels");
    }
    return value;
  } catch (const json::parse_error& e) {
    return Status::InvalidArgument(std::string(where) + ": not valid JSON (at byte " +
                                   std::to_string(e.byte) + "); check the file's syntax");
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string(where) + ": not valid JSON: " + e.what());
  }
}

Result<json> ReadJsonFile(const std::filesystem::path& path, std::string_view what,
                          uint64_t max_bytes) {
  Result<std::string> text = ReadFileBounded(path, max_bytes, what);
  if (!text.ok()) return text.status();
  return ParseJsonText(*text, std::string(what) + " '" + path.string() + "'");
}

std::string JsonValue::Describe() const {
  return path_.empty() ? where_ : where_ + ": " + path_;
}

Status JsonValue::WrongType(std::string_view expected) const {
  return Status::InvalidArgument(Describe() + ": expected " + std::string(expected) + ", got " +
                                 std::string(JsonTypeName(*value_)));
}

bool JsonValue::Has(std::string_view key) const {
  if (!value_->is_object()) return false;
  const auto it = value_->find(key);
  return it != value_->end() && !it->is_null();
}

Result<JsonValue> JsonValue::Field(std::string_view key) const {
  if (!value_->is_object()) return WrongType("an object");
  const auto it = value_->find(key);
  std::string path = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  if (it == value_->end()) {
    return Status::InvalidArgument(where_ + ": field '" + path + "' is missing");
  }
  return JsonValue(*it, where_, std::move(path));
}

Result<std::vector<JsonValue>> JsonValue::Items() const {
  if (!value_->is_array()) return WrongType("an array");
  std::vector<JsonValue> items;
  items.reserve(value_->size());
  for (size_t i = 0; i < value_->size(); ++i) {
    items.push_back(JsonValue((*value_)[i], where_, path_ + "[" + std::to_string(i) + "]"));
  }
  return items;
}

Result<std::vector<std::pair<std::string, JsonValue>>> JsonValue::Members() const {
  if (!value_->is_object()) return WrongType("an object");
  std::vector<std::pair<std::string, JsonValue>> members;
  for (auto it = value_->begin(); it != value_->end(); ++it) {
    std::string path = path_.empty() ? it.key() : path_ + "." + it.key();
    members.emplace_back(it.key(), JsonValue(it.value(), where_, std::move(path)));
  }
  return members;
}

Result<std::string> JsonValue::String() const {
  if (!value_->is_string()) return WrongType("a string");
  return value_->get<std::string>();
}

Result<bool> JsonValue::Bool() const {
  if (!value_->is_boolean()) return WrongType("true or false");
  return value_->get<bool>();
}

Result<double> JsonValue::Number() const {
  if (!value_->is_number()) return WrongType("a number");
  const double v = value_->get<double>();
  if (!std::isfinite(v)) return WrongType("a finite number");
  return v;
}

Result<int64_t> JsonValue::Int(int64_t min, int64_t max) const {
  int64_t v = 0;
  if (value_->is_number_unsigned()) {
    const uint64_t u = value_->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Status::InvalidArgument(Describe() + ": " + std::to_string(u) + " is out of range");
    }
    v = static_cast<int64_t>(u);
  } else if (value_->is_number_integer()) {
    v = value_->get<int64_t>();
  } else if (value_->is_number_float()) {
    const double d = value_->get<double>();
    // 2^63 is exactly representable; anything at or past it does not fit.
    if (!std::isfinite(d) || d != std::floor(d) || d < -9.2233720368547758e18 ||
        d >= 9.2233720368547758e18) {
      return WrongType("an integer");
    }
    v = static_cast<int64_t>(d);
  } else {
    return WrongType("an integer");
  }
  if (v < min || v > max) {
    return Status::InvalidArgument(Describe() + ": " + std::to_string(v) + " is outside [" +
                                   std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return v;
}

Result<std::string> JsonValue::StringField(std::string_view key) const {
  Result<JsonValue> f = Field(key);
  if (!f.ok()) return f.status();
  return f->String();
}

Result<double> JsonValue::NumberField(std::string_view key) const {
  Result<JsonValue> f = Field(key);
  if (!f.ok()) return f.status();
  return f->Number();
}

Result<int64_t> JsonValue::IntField(std::string_view key, int64_t min, int64_t max) const {
  Result<JsonValue> f = Field(key);
  if (!f.ok()) return f.status();
  return f->Int(min, max);
}

Result<std::vector<JsonValue>> JsonValue::ArrayField(std::string_view key) const {
  Result<JsonValue> f = Field(key);
  if (!f.ok()) return f.status();
  return f->Items();
}

Result<std::string> JsonValue::StringFieldOr(std::string_view key, std::string fallback) const {
  if (!value_->is_object()) return WrongType("an object");
  if (!Has(key)) return fallback;
  return StringField(key);
}

Result<double> JsonValue::NumberFieldOr(std::string_view key, double fallback) const {
  if (!value_->is_object()) return WrongType("an object");
  if (!Has(key)) return fallback;
  return NumberField(key);
}

Result<int64_t> JsonValue::IntFieldOr(std::string_view key, int64_t fallback, int64_t min,
                                      int64_t max) const {
  if (!value_->is_object()) return WrongType("an object");
  if (!Has(key)) return fallback;
  return IntField(key, min, max);
}

Result<bool> JsonValue::BoolFieldOr(std::string_view key, bool fallback) const {
  if (!value_->is_object()) return WrongType("an object");
  if (!Has(key)) return fallback;
  Result<JsonValue> f = Field(key);
  if (!f.ok()) return f.status();
  return f->Bool();
}

}  // namespace engram
