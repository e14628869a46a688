#include "agent/internal/source_compression.h"

namespace engram::agent::internal {

Result<ShortenedSources> ShortenSources(std::string_view question,
                                        const std::vector<std::string>& texts,
                                        int64_t budget_tokens,
                                        const compress::CompressModels& models) {
  compress::CompressOptions options;
  options.budget_tokens = budget_tokens;
  ENGRAM_TRY_ASSIGN(compress::Compressed c, compress::Compress(question, texts, options, models));
  ShortenedSources out;
  out.tokens_in = c.tokens_in;
  out.tokens_out = c.tokens_out;
  out.ms = c.coarse_ms + c.fine_ms;
  // The compressor keeps documents in input order, so each source's spans are contiguous in
  // its output: a source's text is the output from its first kept byte to its last.
  std::vector<double> best_score;
  for (const compress::MappedSpan& m : c.map.spans()) {
    if (out.sources.empty() || out.sources.back().index != m.document) {
      out.sources.push_back({.index = m.document, .text = {}, .spans = {}, .best = {}});
      best_score.push_back(-1e300);
    }
    ShortenedSource& src = out.sources.back();
    if (!src.spans.empty()) src.text += " ";
    src.text += c.text.substr(m.out_begin, m.out_end - m.out_begin);
    src.spans.push_back({m.begin, m.end});
    // A kept sentence's score (the coarse stage's); the best one is the citation's quote.
    for (const compress::KeptSentence& k : c.kept) {
      if (k.out_begin < m.out_begin || k.out_end > m.out_end || k.score <= best_score.back()) {
        continue;
      }
      best_score.back() = k.score;
      src.best = {m.begin + (k.out_begin - m.out_begin), m.begin + (k.out_end - m.out_begin)};
    }
  }
  for (size_t i = 0; i < out.sources.size(); ++i) {  // words dropped inside every sentence
    if (best_score[i] == -1e300) out.sources[i].best = out.sources[i].spans.front();
  }
  return out;
}

}  // namespace engram::agent::internal
