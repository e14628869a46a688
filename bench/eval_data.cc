#include "bench/eval_data.h"

#include <algorithm>
#include <sstream>

#include "common/input_file.h"
#include "common/json_read.h"

namespace engram::bench {

namespace {

Result<SquadParagraph> ReadParagraph(const JsonValue& p) {
  SquadParagraph paragraph;
  ENGRAM_TRY_ASSIGN(paragraph.context, p.StringField("context"));
  if (p.Has("qas")) {
    ENGRAM_TRY_ASSIGN(const std::vector<JsonValue> qas, p.ArrayField("qas"));
    for (const JsonValue& qa : qas) {
      SquadQuestion q;
      ENGRAM_TRY_ASSIGN(q.question, qa.StringField("question"));
      ENGRAM_TRY_ASSIGN(q.id, qa.StringFieldOr("id", ""));
      if (qa.Has("answers")) {
        ENGRAM_TRY_ASSIGN(const std::vector<JsonValue> answers, qa.ArrayField("answers"));
        for (const JsonValue& a : answers) {
          ENGRAM_TRY_ASSIGN(std::string text, a.StringField("text"));
          q.answers.push_back(std::move(text));
        }
      }
      paragraph.questions.push_back(q.question);
      paragraph.qas.push_back(std::move(q));
    }
  }
  return paragraph;
}

}  // namespace

Result<std::vector<SquadArticle>> ReadSquad(const std::string& path, std::string_view what) {
  Result<nlohmann::json> doc = ReadJsonFile(path, "SQuAD file");
  if (!doc.ok()) return doc.status().WithContext(what);
  return ParseSquad(*doc, std::string(what) + ": SQuAD file '" + path + "'");
}

Result<std::vector<SquadArticle>> ParseSquad(const nlohmann::json& doc, std::string where) {
  const JsonValue root(doc, std::move(where));
  ENGRAM_TRY_ASSIGN(const std::vector<JsonValue> data, root.ArrayField("data"));
  std::vector<SquadArticle> articles;
  for (const JsonValue& a : data) {
    SquadArticle article;
    ENGRAM_TRY_ASSIGN(article.title, a.StringFieldOr("title", ""));
    ENGRAM_TRY_ASSIGN(const std::vector<JsonValue> paragraphs, a.ArrayField("paragraphs"));
    for (const JsonValue& p : paragraphs) {
      ENGRAM_TRY_ASSIGN(SquadParagraph paragraph, ReadParagraph(p));
      article.paragraphs.push_back(std::move(paragraph));
    }
    articles.push_back(std::move(article));
  }
  return articles;
}

Result<std::vector<std::string>> ReadJsonlInputs(const std::string& path, std::string_view what,
                                                 size_t max_lines) {
  Result<std::string> text = ReadFileBounded(path, kMaxJsonFileBytes, "JSONL file");
  if (!text.ok()) return text.status().WithContext(what);
  std::istringstream in(*text);
  std::vector<std::string> inputs;
  size_t line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.empty()) continue;
    const std::string where = std::string(what) + ": '" + path + "' line " + std::to_string(line_no);
    ENGRAM_TRY_ASSIGN(const nlohmann::json j, ParseJsonText(line, where));
    ENGRAM_TRY_ASSIGN(std::string input, JsonValue(j, where).StringField("input"));
    inputs.push_back(std::move(input));
    if (max_lines > 0 && inputs.size() == max_lines) break;
  }
  return inputs;
}

Result<std::vector<LevalDocument>> ReadLevalFile(const std::string& path, std::string_view what) {
  Result<std::string> text = ReadFileBounded(path, kMaxJsonFileBytes, "JSONL file");
  if (!text.ok()) return text.status().WithContext(what);
  std::istringstream in(*text);
  std::vector<LevalDocument> docs;
  size_t line_no = 0;
  const auto strings = [](const JsonValue& v, std::string_view key) -> Result<std::vector<std::string>> {
    ENGRAM_TRY_ASSIGN(const std::vector<JsonValue> items, v.ArrayField(key));
    std::vector<std::string> out;
    for (const JsonValue& item : items) {
      ENGRAM_TRY_ASSIGN(std::string s, item.String());
      out.push_back(std::move(s));
    }
    return out;
  };
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.empty()) continue;
    const std::string where = std::string(what) + ": '" + path + "' line " + std::to_string(line_no);
    ENGRAM_TRY_ASSIGN(const nlohmann::json j, ParseJsonText(line, where));
    const JsonValue v(j, where);
    LevalDocument doc;
    ENGRAM_TRY_ASSIGN(doc.input, v.StringField("input"));
    ENGRAM_TRY_ASSIGN(doc.instructions, strings(v, "instructions"));
    ENGRAM_TRY_ASSIGN(doc.outputs, strings(v, "outputs"));
    if (doc.instructions.size() != doc.outputs.size()) {
      return Status::InvalidArgument(where + ": " + std::to_string(doc.instructions.size()) +
                                     " instructions but " + std::to_string(doc.outputs.size()) +
                                     " outputs");
    }
    docs.push_back(std::move(doc));
  }
  return docs;
}

Result<std::string> ReadTextFile(const std::string& path, std::string_view what) {
  Result<std::string> text = ReadFileBounded(path, kMaxTextInputBytes, "text file");
  if (!text.ok()) return text.status().WithContext(what);
  return text;
}

std::vector<std::pair<size_t, size_t>> SpreadQuestions(const std::vector<size_t>& per_document,
                                                       int limit) {
  std::vector<std::pair<size_t, size_t>> picked;
  const size_t want = limit > 0 ? static_cast<size_t>(limit) : SIZE_MAX;
  for (size_t round = 0; picked.size() < want; ++round) {
    bool any = false;
    for (size_t d = 0; d < per_document.size() && picked.size() < want; ++d) {
      if (round < per_document[d]) picked.emplace_back(d, round), any = true;
    }
    if (!any) break;
  }
  std::sort(picked.begin(), picked.end());
  return picked;
}

}  // namespace engram::bench
