#include "bench/locomo.h"

#include <algorithm>
#include <ctime>
#include <map>
#include <regex>

#include "common/json_read.h"

namespace engram::bench {
namespace {

std::string Trim(std::string s) {
  const size_t b = s.find_first_not_of(" \t");
  const size_t e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// "D8:6; D9:17" -> {"D8:6", "D9:17"}: a few evidence entries list two ids in one string.
void AddEvidenceIds(const std::string& ids, std::vector<std::string>* out) {
  for (size_t start = 0; start <= ids.size();) {
    const size_t end = std::min(ids.find(';', start), ids.size());
    const std::string id = Trim(ids.substr(start, end - start));
    if (!id.empty()) out->push_back(id);
    start = end + 1;
  }
}

Result<LocomoQuestion> ReadQuestion(const JsonValue& qa) {
  LocomoQuestion q;
  ENGRAM_TRY_ASSIGN(q.text, qa.StringFieldOr("question", ""));
  if (qa.Has("category")) {
    ENGRAM_TRY_ASSIGN(const int64_t category, qa.IntField("category", 0, 1000));
    q.category = std::to_string(category);
  } else {
    q.category = "?";
  }
  if (qa.Has("evidence")) {
    ENGRAM_TRY_ASSIGN(const std::vector<JsonValue> evidence, qa.ArrayField("evidence"));
    for (const JsonValue& e : evidence) {
      ENGRAM_TRY_ASSIGN(const std::string ids, e.String());
      AddEvidenceIds(ids, &q.evidence);
    }
  }
  return q;
}

// The turns of one session ("session_3"), dated by "session_3_date_time".
Status ReadSession(const JsonValue& item, const std::string& key, const LocomoReadOptions& options,
                   LocomoConversation* c) {
  ENGRAM_TRY_ASSIGN(const std::string date, item.StringField(key + "_date_time"));
  Result<int64_t> time = ParseLocomoDateTime(date);
  if (!time.ok()) return time.status().WithContext(item.Describe());
  c->last_session_ms = std::max(c->last_session_ms, *time);
  ENGRAM_TRY_ASSIGN(const std::vector<JsonValue> turns, item.ArrayField(key));
  for (const JsonValue& turn : turns) {
    LocomoTurn t{.session = key, .time_ms = *time};
    ENGRAM_TRY_ASSIGN(t.dia_id, turn.StringFieldOr("dia_id", ""));
    ENGRAM_TRY_ASSIGN(const std::string speaker, turn.StringFieldOr("speaker", ""));
    ENGRAM_TRY_ASSIGN(const std::string text, turn.StringFieldOr("text", ""));
    t.speaker = speaker;
    t.text = speaker + ": " + text;
    ENGRAM_TRY_ASSIGN(const std::string caption, turn.StringFieldOr("blip_caption", ""));
    if (options.captions && !caption.empty()) t.text += " [shared " + caption + "]";
    c->turns.push_back(std::move(t));
  }
  return Status::OK();
}

Result<LocomoConversation> ReadLocomoConversation(const JsonValue& item,
                                                  const LocomoReadOptions& options) {
  LocomoConversation c;
  ENGRAM_TRY_ASSIGN(const JsonValue id, item.Field("sample_id"));
  if (id.raw().is_string()) {
    ENGRAM_TRY_ASSIGN(c.id, id.String());
  } else {
    ENGRAM_TRY_ASSIGN(const int64_t number, id.Int());
    c.id = std::to_string(number);
  }
  // Sessions in numeric order ("session_2" before "session_10").
  std::map<int, std::string> sessions;
  const std::regex session_key("session_(\\d{1,6})");
  ENGRAM_TRY_ASSIGN(const auto members, item.Members());
  for (const auto& [key, value] : members) {
    std::smatch m;
    if (std::regex_match(key, m, session_key) && value.IsArray()) {
      sessions[std::stoi(m[1])] = key;
    }
  }
  for (const auto& [number, key] : sessions) {
    if (Status s = ReadSession(item, key, options, &c); !s.ok()) return s;
  }
  ENGRAM_TRY_ASSIGN(const std::vector<JsonValue> qas, item.ArrayField("qa"));
  for (const JsonValue& qa : qas) {
    ENGRAM_TRY_ASSIGN(LocomoQuestion q, ReadQuestion(qa));
    if (!q.evidence.empty() && !q.text.empty()) c.questions.push_back(std::move(q));
  }
  return c;
}

}  // namespace

Result<std::vector<LocomoConversation>> ReadLocomo(const std::string& path,
                                                   const LocomoReadOptions& options) {
  Result<nlohmann::json> data = ReadJsonFile(path, "LoCoMo file");
  if (!data.ok()) return data.status().WithContext("eval memory");
  const JsonValue root(*data, "LoCoMo file '" + path + "'");
  Result<std::vector<JsonValue>> items = root.Items();
  if (!items.ok()) return items.status().WithContext("eval memory (a list of conversations)");
  if (items->empty()) {
    return Status::InvalidArgument("eval memory: LoCoMo file '" + path +
                                   "' holds no conversations");
  }
  std::vector<LocomoConversation> out;
  for (const JsonValue& item : *items) {
    Result<LocomoConversation> c = ReadLocomoConversation(item, options);
    if (!c.ok()) return c.status().WithContext("eval memory");
    out.push_back(std::move(*c));
  }
  return out;
}

Result<int64_t> ParseLocomoDateTime(const std::string& text) {
  std::tm tm{};
  const char* end = ::strptime(text.c_str(), "%I:%M %p on %d %B, %Y", &tm);
  if (end == nullptr || *end != '\0') {
    return Status::InvalidArgument("eval memory: cannot read the date '" + text +
                                   "' (expected like '1:56 pm on 8 May, 2023')");
  }
  return static_cast<int64_t>(::timegm(&tm)) * 1000;
}

}  // namespace engram::bench
