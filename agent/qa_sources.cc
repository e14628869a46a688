// rag's sources (agent/qa.h): the retrieved chunks packed whole into the source budget, or,
// when they do not all fit and AskOptions::compress is on, more candidates compressed
// question-aware to the budget (agent/internal/source_compression.h).
#include <algorithm>
#include <limits>

#include "agent/internal/qa_state.h"
#include "agent/internal/source_compression.h"

namespace engram::agent {
namespace {

// The candidates shortened to `budget` tokens, renumbered; each keeps its document span as the
// extent of its kept spans. An error of the compressor comes back as such (the caller falls
// back to packing).
Result<std::vector<internal::Source>> CompressCandidates(
    internal::QaState& s, std::string_view question,
    const std::vector<internal::Source>& candidates, int64_t budget, Answer* report) {
  std::vector<std::string> texts;
  for (const internal::Source& c : candidates) texts.push_back(c.text);
  // Each source in the prompt costs its "[n] " and blank line beyond its text.
  const int64_t room =
      budget - internal::kSourceOverheadTokens * static_cast<int64_t>(candidates.size());
  if (room <= 0) return Status::InvalidArgument("ask: no room left for compressed sources");
  const compress::CompressModels models{
      .count_tokens = [&s](std::string_view t) { return static_cast<int>(s.CountTokens(t)); }};
  ENGRAM_TRY_ASSIGN(internal::ShortenedSources shortened,
                    internal::ShortenSources(question, texts, room, models));
  std::vector<internal::Source> out;
  for (internal::ShortenedSource& k : shortened.sources) {
    internal::Source src = candidates[k.index];
    const size_t base = src.begin;  // span offsets are within the candidate's text
    src.number = static_cast<int>(out.size() + 1);
    src.text = std::move(k.text);
    for (const internal::TextRange& r : k.spans)
      src.spans.emplace_back(base + r.begin, base + r.end);
    src.begin = src.spans.front().first;
    src.end = src.spans.back().second;
    src.quote = {base + k.best.begin, base + k.best.end};
    out.push_back(std::move(src));
  }
  AskCompression& c = report->compression;
  c = {.applied = true,
       .sources_in = static_cast<int>(candidates.size()),
       .sources_out = static_cast<int>(out.size()),
       .tokens_in = shortened.tokens_in,
       .tokens_out = shortened.tokens_out};
  report->timing.compress_ms = shortened.ms;
  return out;
}

}  // namespace

Result<std::vector<internal::Source>> RagSources(internal::QaState& s, std::string_view question,
                                                 const AskOptions& options, int64_t budget,
                                                 Answer* report) {
  const auto count = [&s](std::string_view t) { return s.CountTokens(t); };
  auto start = Clock::now();
  ENGRAM_TRY_ASSIGN(std::vector<retrieval::SearchHit> hits, s.Search(question, options.k, options));
  report->timing.retrieve_ms += MillisecondsSince(start);
  size_t skipped = 0;
  std::vector<internal::Source> packed = internal::PackSources(hits, budget, count, &skipped);
  if (hits.empty())
    report->note = "the search found nothing";
  else if (packed.empty() && !options.compress)
    report->note = "no source fits the budget";
  if (!options.compress || skipped == 0) return packed;  // everything fits: nothing changes

  // More candidates than k: compression makes room for them. One more search (milliseconds)
  // keeps the k-chunk search, and so the prompt when everything fits, exactly as it was.
  const int wider = std::min(2 * options.k, retrieval::kMaxSearchK);
  if (wider > options.k) {
    start = Clock::now();
    ENGRAM_TRY_ASSIGN(hits, s.Search(question, wider, options));
    report->timing.retrieve_ms += MillisecondsSince(start);
  }
  const std::vector<internal::Source> candidates =
      internal::PackSources(hits, std::numeric_limits<int64_t>::max() / 4, count);
  Result<std::vector<internal::Source>> compressed =
      CompressCandidates(s, question, candidates, budget, report);
  if (!compressed.ok() || compressed->empty()) {
    // A budget too small for the compressor (smaller than the question): the packing stands.
    report->compression = {};
    report->timing.compress_ms = 0;
    if (packed.empty()) report->note = "no source fits the budget";
    return packed;
  }
  return compressed;
}

}  // namespace engram::agent
