#include "compress/fine_stage.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace engram::compress {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

struct Word {
  size_t begin = 0, end = 0;  // in the coarse text
  double score_sum = 0.0;
  int tokens = 0;
  double score() const {
    return tokens == 0 ? std::numeric_limits<double>::infinity() : score_sum / tokens;
  }
};

std::vector<Word> SplitWords(std::string_view text) {
  std::vector<Word> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && IsSpace(text[i])) ++i;
    if (i == text.size()) break;
    const size_t begin = i;
    while (i < text.size() && !IsSpace(text[i])) ++i;
    words.push_back({begin, i});
  }
  return words;
}

// Each token counts toward the word holding its last non-space byte (a byte-level BPE token
// carries the space before its word).
void AttachTokens(std::vector<Word>& words, const std::vector<ScoredToken>& tokens,
                  std::string_view text, double contrast_weight) {
  size_t w = 0;
  for (const ScoredToken& t : tokens) {
    size_t last = t.end;
    while (last > t.begin && IsSpace(text[last - 1])) --last;
    if (last == t.begin) continue;  // white space only
    while (w < words.size() && words[w].end < last) ++w;
    if (w == words.size()) break;
    words[w].score_sum += t.self_information + contrast_weight * t.contrast;
    ++words[w].tokens;
  }
}

// The text of the kept words with their source map.
Compressed Assemble(const Compressed& coarse, const std::vector<std::string>& documents,
                    const std::vector<Word>& words, const std::vector<bool>& keep) {
  Compressed out;
  auto append_mapped = [&](size_t b, size_t e) {
    for (const MappedSpan& s : coarse.map.Map(b, e)) {
      out.map.AppendKept(out.text, s.document, s.begin, s.end, documents[s.document]);
    }
  };
  size_t previous = SIZE_MAX;  // the last kept word
  for (size_t i = 0; i < words.size(); ++i) {
    if (!keep[i]) continue;
    if (previous != SIZE_MAX) {
      const size_t gap_begin = words[previous].end, gap_end = words[i].begin;
      const std::string_view gap =
          std::string_view(coarse.text).substr(gap_begin, gap_end - gap_begin);
      size_t mapped = 0;
      for (const MappedSpan& s : coarse.map.Map(gap_begin, gap_end)) mapped += s.end - s.begin;
      if (previous + 1 == i && mapped == gap.size()) {
        append_mapped(gap_begin, gap_end);  // original spacing, one span with both words
      } else {
        out.text += gap.find("\n\n") != std::string_view::npos ? "\n\n" : " ";
      }
    }
    append_mapped(words[i].begin, words[i].end);
    previous = i;
  }
  return out;
}

}  // namespace

Compressed DropWords(const Compressed& coarse, const std::vector<std::string>& documents,
                     const std::vector<ScoredToken>& tokens, int64_t budget,
                     double contrast_weight,
                     const std::function<int(std::string_view)>& count_tokens) {
  std::vector<Word> words = SplitWords(coarse.text);
  AttachTokens(words, tokens, coarse.text, contrast_weight);
  std::vector<size_t> order(words.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return words[a].score() < words[b].score(); });
  std::vector<bool> keep(words.size(), true);
  size_t next = 0;  // in `order`
  int64_t tokens_out = coarse.tokens_out;
  Compressed out = coarse;
  // Drop by the words' own token counts, then recount the joined text (joining may merge or
  // split tokens) and drop more while it is over; a few rounds settle it.
  for (int round = 0; round < 8 && tokens_out > budget && next < order.size(); ++round) {
    int64_t excess = tokens_out - budget;
    while (excess > 0 && next < order.size()) {
      const Word& w = words[order[next++]];
      keep[&w - words.data()] = false;
      excess -= std::max(w.tokens, 1);
    }
    Compressed kept = Assemble(coarse, documents, words, keep);
    tokens_out = kept.text.empty() ? 0 : count_tokens(kept.text);
    out.text = std::move(kept.text);
    out.map = std::move(kept.map);
  }
  out.tokens_out = tokens_out;
  out.words_scored = words.size();
  out.words_dropped = static_cast<size_t>(std::count(keep.begin(), keep.end(), false));
  return out;
}

}  // namespace engram::compress
