// Extractive answers: the retrieved sentences that best match the question, each cited. Used
// without a generator model and for --extractive.
#include <algorithm>
#include <cctype>
#include <set>

#include "agent/internal/qa_state.h"
#include "retrieval/bm25.h"

namespace engram::agent {
namespace {

struct Sentence {
  size_t begin = 0, end = 0;  // in the chunk's text
  double score = 0;
  size_t hit = 0;
};

// Sentence spans of a chunk: ends at . ! ? followed by white space, or at a blank line.
std::vector<std::pair<size_t, size_t>> SplitSentences(std::string_view text) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t begin = 0;
  auto push = [&](size_t end) {
    while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
    size_t e = end;
    while (e > begin && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
    if (e > begin) out.emplace_back(begin, e);
    begin = end;
  };
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    const char c = text[i], next = text[i + 1];
    if (((c == '.' || c == '!' || c == '?') && std::isspace(static_cast<unsigned char>(next))) ||
        (c == '\n' && next == '\n')) {
      push(i + 1);
    }
  }
  push(text.size());
  return out;
}

// Share of the question's terms the sentence holds, with the chunk's rank as a tie-breaker.
double ScoreSentence(std::string_view sentence, const std::set<std::string>& question_terms,
                     size_t rank) {
  if (question_terms.empty()) return 1.0 / static_cast<double>(rank + 1);
  std::set<std::string> terms;
  for (std::string& t : retrieval::Bm25Terms(sentence)) terms.insert(std::move(t));
  size_t shared = 0;
  for (const std::string& t : question_terms) shared += terms.contains(t) ? 1 : 0;
  return static_cast<double>(shared) / static_cast<double>(question_terms.size()) +
         0.1 / static_cast<double>(rank + 1);
}

}  // namespace

Result<Answer> AskExtractive(internal::QaState& s, std::string_view question,
                             const AskOptions& options, Clock::time_point asked) {
  Answer answer;
  answer.mode = AskMode::kRag;
  answer.extractive = true;
  answer.note = s.engine == nullptr
                    ? "no generator model: the answer is the passages that best match the "
                      "question (run scripts/fetch_models.sh for generated answers)"
                    : "extractive: the passages that best match the question";
  ENGRAM_TRY_ASSIGN(std::vector<retrieval::SearchHit> hits, s.Search(question, options.k, options));
  answer.timing.retrieve_ms = MillisecondsSince(asked);
  std::set<std::string> question_terms;
  for (std::string& t : retrieval::Bm25Terms(question)) question_terms.insert(std::move(t));
  std::vector<Sentence> sentences;
  for (size_t h = 0; h < hits.size(); ++h) {
    for (auto [b, e] : SplitSentences(hits[h].text)) {
      const std::string_view text = std::string_view(hits[h].text).substr(b, e - b);
      sentences.push_back({b, e, ScoreSentence(text, question_terms, h), h});
    }
  }
  std::stable_sort(sentences.begin(), sentences.end(),
                   [](const Sentence& a, const Sentence& b) { return a.score > b.score; });
  std::set<std::pair<uint64_t, size_t>> seen;  // (document, begin): overlapping chunks repeat
  for (const Sentence& sentence : sentences) {
    if (static_cast<int>(answer.citations.size()) >= options.extractive_sentences) break;
    const retrieval::SearchHit& hit = hits[sentence.hit];
    const size_t begin = hit.begin + sentence.begin, end = hit.begin + sentence.end;
    if (!seen.insert({hit.document_id, begin}).second) continue;
    const int number = static_cast<int>(answer.citations.size()) + 1;
    const std::string_view text =
        std::string_view(hit.text).substr(sentence.begin, sentence.end - sentence.begin);
    answer.text += (answer.text.empty() ? "" : " ") + std::string(text) + " [" +
                   std::to_string(number) + "]";
    answer.citations.push_back(s.Cite(number, hit.source, begin, end, text, false));
  }
  if (answer.citations.empty()) answer.text = "No passage of the documents matches the question.";
  answer.timing.total_ms = MillisecondsSince(asked);
  return answer;
}

}  // namespace engram::agent
