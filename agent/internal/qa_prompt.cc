#include "agent/internal/qa_prompt.h"

#include <algorithm>

namespace engram::agent::internal {

std::vector<Source> PackSources(std::span<const retrieval::SearchHit> hits, int64_t budget_tokens,
                                const std::function<int64_t(std::string_view)>& count_tokens,
                                size_t* skipped) {
  std::vector<const retrieval::SearchHit*> chosen;
  int64_t used = 0;
  if (skipped != nullptr) *skipped = 0;
  for (const retrieval::SearchHit& h : hits) {  // best first
    const int64_t tokens = count_tokens(h.text) + kSourceOverheadTokens;
    if (used + tokens > budget_tokens) {
      if (skipped != nullptr) ++*skipped;
      continue;
    }
    used += tokens;
    chosen.push_back(&h);
  }
  std::sort(chosen.begin(), chosen.end(), [](const auto* a, const auto* b) {
    return a->document_id != b->document_id ? a->document_id < b->document_id
                                            : a->begin < b->begin;
  });
  std::vector<Source> out;
  for (const retrieval::SearchHit* h : chosen) {
    if (!out.empty() && out.back().document == h->document_id && h->begin <= out.back().end) {
      Source& s = out.back();  // overlapping chunks (the chunker's overlap): one source
      if (h->end > s.end) {
        s.text += h->text.substr(s.end - h->begin);
        s.end = h->end;
      }
      s.score = std::max(s.score, h->score);
      continue;
    }
    out.push_back({.number = 0, .document = h->document_id, .source = h->source,
                   .title = h->title, .begin = h->begin, .end = h->end, .text = h->text,
                   .score = h->score, .spans = {}, .quote = {}});
  }
  for (size_t i = 0; i < out.size(); ++i) out[i].number = static_cast<int>(i + 1);
  return out;
}

std::string SourcesBlock(std::span<const Source> sources) {
  std::string out = "Sources:\n\n";
  for (const Source& s : sources) {
    out += "[" + std::to_string(s.number) + "] " + s.text + "\n\n";
  }
  return out;
}

std::string QuestionBlock(std::string_view question) {
  return "Question: " + std::string(question);
}

std::vector<int32_t> ChatPrompt(const inference::Engine& engine, std::string_view instruction,
                                std::span<const std::string> segments,
                                std::vector<size_t>* segment_starts) {
  const std::vector<inference::Engine::ChatSegments> messages = {
      {"system", {std::string(instruction)}},
      {"user", std::vector<std::string>(segments.begin(), segments.end())}};
  std::vector<size_t> starts;
  std::vector<int32_t> tokens = engine.EncodeChatSegments(messages, true, &starts);
  if (segment_starts != nullptr) segment_starts->assign(starts.begin() + 1, starts.end());
  return tokens;
}

}  // namespace engram::agent::internal
