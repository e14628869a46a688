#include "compress/coarse_compressor.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "retrieval/bm25.h"
#include "retrieval/chunker.h"
#include "retrieval/document_parser.h"

namespace engram::compress {
namespace {

struct Sentence {
  size_t document = 0;
  retrieval::TextSpan span;
  int tokens = 0;
  double score = 0.0;
};

Status CheckDocuments(const std::vector<std::string>& documents) {
  bool any_text = false;
  for (size_t d = 0; d < documents.size(); ++d) {
    if (retrieval::RepairUtf8(documents[d]) != documents[d]) {
      return Status::InvalidArgument("compress: document " + std::to_string(d) +
                                     " is not valid UTF-8; convert it first");
    }
    any_text = any_text || documents[d].find_first_not_of(" \t\r\n\f\v") != std::string::npos;
  }
  if (!any_text) return Status::InvalidArgument("compress: there is no text to compress");
  return Status::OK();
}

// The spans ranked: sentences, or chunks of options.chunk_tokens.
std::vector<retrieval::TextSpan> Units(std::string_view text, const CoarseOptions& options,
                                       const std::function<int(std::string_view)>& count_tokens) {
  if (options.chunk_tokens <= 0) return retrieval::SplitSentences(text);
  retrieval::ChunkOptions chunking{.max_tokens = options.chunk_tokens, .overlap_tokens = 0};
  Result<std::vector<retrieval::TextChunk>> chunks = retrieval::ChunkText(
      text, chunking, [&](std::string_view s) { return count_tokens(s); });
  std::vector<retrieval::TextSpan> spans;
  if (!chunks.ok()) return retrieval::SplitSentences(text);  // options checked before
  for (const retrieval::TextChunk& c : *chunks) spans.push_back({c.begin, c.end});
  return spans;
}

// BM25 of each sentence (as a document of the sentence corpus) for the question, scaled so the
// best is 1.
std::vector<double> Bm25Scores(std::string_view question, const std::vector<Sentence>& sentences,
                               const std::vector<std::string>& documents) {
  std::vector<std::map<std::string, int>> tf(sentences.size());
  std::map<std::string, int64_t> df;
  double total_length = 0.0;
  std::vector<double> length(sentences.size());
  for (size_t i = 0; i < sentences.size(); ++i) {
    const Sentence& s = sentences[i];
    const std::vector<std::string> terms = retrieval::Bm25Terms(
        std::string_view(documents[s.document]).substr(s.span.begin, s.span.end - s.span.begin));
    for (const std::string& t : terms) ++tf[i][t];
    for (const auto& [t, n] : tf[i]) ++df[t];
    length[i] = static_cast<double>(terms.size());
    total_length += length[i];
  }
  retrieval::Bm25Stats stats;
  stats.documents = static_cast<int64_t>(sentences.size());
  stats.average_length = sentences.empty() ? 0.0 : total_length / sentences.size();
  double idf_sum = 0.0;
  for (const auto& [t, n] : df) idf_sum += retrieval::Bm25RawIdf(stats.documents, n);
  stats.mean_idf = df.empty() ? 0.0 : idf_sum / static_cast<double>(df.size());
  const retrieval::Bm25Params params;
  std::vector<double> scores(sentences.size(), 0.0);
  for (const std::string& q : retrieval::Bm25Terms(question)) {
    auto it = df.find(q);
    if (it == df.end()) continue;
    const double idf = retrieval::Bm25Idf(stats, it->second, params);
    for (size_t i = 0; i < sentences.size(); ++i) {
      auto f = tf[i].find(q);
      if (f == tf[i].end()) continue;
      scores[i] += retrieval::Bm25TermScore(idf, f->second, length[i], stats.average_length,
                                            params);
    }
  }
  const double best = scores.empty() ? 0.0 : *std::max_element(scores.begin(), scores.end());
  if (best > 0.0) {
    for (double& s : scores) s /= best;
  }
  return scores;
}

// Cosine similarity of each sentence to the question, scaled to [0, 1].
Result<std::vector<double>> DenseScores(std::string_view question,
                                        const std::vector<Sentence>& sentences,
                                        const std::vector<std::string>& documents,
                                        retrieval::Embedder& embedder) {
  std::vector<std::string> texts = {std::string(question)};
  for (const Sentence& s : sentences) {
    texts.push_back(documents[s.document].substr(s.span.begin, s.span.end - s.span.begin));
  }
  Result<retrieval::EmbeddingBatch> batch = embedder.Embed(texts);
  if (!batch.ok()) return batch.status();
  const std::span<const float> q = batch->Row(0);
  std::vector<double> scores(sentences.size());
  for (size_t i = 0; i < sentences.size(); ++i) {
    const std::span<const float> v = batch->Row(i + 1);
    const double cosine = std::inner_product(q.begin(), q.end(), v.begin(), 0.0);
    scores[i] = (cosine + 1.0) / 2.0;
  }
  return scores;
}

// Adds each document's relevance (its best sentence's score) to its sentences.
void AddDocumentRank(std::vector<Sentence>& sentences, size_t documents, double weight) {
  std::vector<double> best(documents, 0.0);
  for (const Sentence& s : sentences) best[s.document] = std::max(best[s.document], s.score);
  for (Sentence& s : sentences) s.score += weight * best[s.document];
}

// The kept sentences, in document and text order, with their separators.
Compressed Assemble(const std::vector<Sentence>& sentences, const std::vector<bool>& keep,
                    const std::vector<std::string>& documents) {
  Compressed out;
  size_t last_document = SIZE_MAX;
  for (size_t i = 0; i < sentences.size(); ++i) {
    if (!keep[i]) continue;
    const Sentence& s = sentences[i];
    if (!out.text.empty()) out.text += s.document == last_document ? " " : "\n\n";
    const size_t out_begin = out.text.size();
    out.map.AppendKept(out.text, s.document, s.span.begin, s.span.end, documents[s.document]);
    out.kept.push_back({out_begin, out.text.size(), s.score, s.tokens});
    last_document = s.document;
    ++out.sentences_kept;
  }
  return out;
}

}  // namespace

Status ValidateRatioOrBudget(double ratio, int64_t budget_tokens) {
  if ((ratio != 0.0) == (budget_tokens != 0)) {
    return Status::InvalidArgument(
        "compress: give exactly one of a ratio (--ratio) and a token budget (--budget-tokens)");
  }
  if (ratio != 0.0 && !(ratio > 1.0 && ratio <= kMaxCompressionRatio)) {
    return Status::InvalidArgument("compress: ratio " + std::to_string(ratio) +
                                   " is out of range; use a value in (1, " +
                                   std::to_string(static_cast<int>(kMaxCompressionRatio)) + "]");
  }
  if (budget_tokens < 0) {
    return Status::InvalidArgument("compress: budget " + std::to_string(budget_tokens) +
                                   " tokens must be positive");
  }
  return Status::OK();
}

Result<Compressed> CompressCoarse(std::string_view question,
                                  const std::vector<std::string>& documents,
                                  const CoarseOptions& options,
                                  const std::function<int(std::string_view)>& count_tokens,
                                  retrieval::Embedder* embedder) {
  if (Status s = ValidateRatioOrBudget(options.ratio, options.budget_tokens); !s.ok()) return s;
  if (Status s = CheckDocuments(documents); !s.ok()) return s;
  if (options.chunk_tokens < 0 || options.chunk_tokens > (1 << 20)) {
    return Status::InvalidArgument("compress: chunk_tokens " +
                                   std::to_string(options.chunk_tokens) + " must be in 0..1048576");
  }
  std::vector<Sentence> sentences;
  int64_t tokens_in = 0;
  for (size_t d = 0; d < documents.size(); ++d) {
    tokens_in += count_tokens(documents[d]);
    for (const retrieval::TextSpan& span : Units(documents[d], options, count_tokens)) {
      const std::string_view text =
          std::string_view(documents[d]).substr(span.begin, span.end - span.begin);
      sentences.push_back({d, span, count_tokens(text), 0.0});
    }
  }
  const int64_t budget = options.budget_tokens > 0
                             ? options.budget_tokens
                             : static_cast<int64_t>(std::floor(tokens_in / options.ratio));
  std::vector<double> relevance = Bm25Scores(question, sentences, documents);
  if (embedder != nullptr) {
    Result<std::vector<double>> dense = DenseScores(question, sentences, documents, *embedder);
    if (!dense.ok()) return dense.status();
    for (size_t i = 0; i < sentences.size(); ++i) {
      relevance[i] = (1.0 - options.dense_weight) * relevance[i] +
                     options.dense_weight * (*dense)[i];
    }
  }
  for (size_t i = 0; i < sentences.size(); ++i) sentences[i].score = relevance[i];
  AddDocumentRank(sentences, documents.size(), options.document_weight);
  // Best first (ties: earlier first); keep while the budget lasts, skipping what does not fit.
  std::vector<size_t> order(sentences.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return sentences[a].score > sentences[b].score;
  });
  std::vector<bool> keep(sentences.size(), false);
  int64_t used = 0;
  for (size_t i : order) {
    if (used + sentences[i].tokens > budget) continue;
    keep[i] = true;
    used += sentences[i].tokens;
  }
  Compressed out = Assemble(sentences, keep, documents);
  out.tokens_in = tokens_in;
  out.tokens_out = out.text.empty() ? 0 : count_tokens(out.text);
  out.sentences_in = sentences.size();
  return out;
}

}  // namespace engram::compress
