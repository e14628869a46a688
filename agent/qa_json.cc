// An Answer as JSON (agent/qa_json.h).
#include "agent/qa_json.h"

namespace engram::agent {

nlohmann::ordered_json AnswerJson(const Answer& a) {
  using nlohmann::ordered_json;
  ordered_json citations = ordered_json::array();
  for (const Citation& c : a.citations) {
    citations.push_back({{"source", c.source},
                         {"document", c.document},
                         {"begin", c.begin},
                         {"end", c.end},
                         {"snippet", c.snippet},
                         {"supporting", c.supporting}});
    if (!c.spans.empty()) {
      ordered_json spans = ordered_json::array();
      for (const auto& [b, e] : c.spans) spans.push_back({b, e});
      citations.back()["spans"] = std::move(spans);
    }
  }
  const AskTiming& t = a.timing;
  return {{"answer", a.text},
          {"citations", citations},
          {"mode", AskModeName(a.mode)},
          {"extractive", a.extractive},
          {"dropped_citations", a.dropped_citations},
          {"note", a.note},
          {"sources", a.sources},
          {"compression",
           {{"applied", a.compression.applied},
            {"sources_in", a.compression.sources_in},
            {"sources_out", a.compression.sources_out},
            {"tokens_in", a.compression.tokens_in},
            {"tokens_out", a.compression.tokens_out}}},
          {"timing",
           {{"retrieve_ms", t.retrieve_ms},
            {"compress_ms", t.compress_ms},
            {"prefill_ms", t.prefill_ms},
            {"cache_load_ms", t.cache_load_ms},
            {"ttft_ms", t.ttft_ms},
            {"decode_ms", t.decode_ms},
            {"decode_tokens_per_s", t.decode_tokens_per_s},
            {"total_ms", t.total_ms},
            {"tokens_read", t.prompt_tokens},
            {"tokens_generated", t.generated_tokens},
            {"cache_hit", t.cache_hit}}}};
}

}  // namespace engram::agent
