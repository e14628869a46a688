#include "compress/compressor.h"

#include <chrono>
#include <cmath>
#include <algorithm>
#include <limits>
#include <numeric>

#include "compress/fine_stage.h"
#include "compress/token_scorer.h"

namespace engram::compress {
namespace {

double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// Scores the words the fine stage may drop: the least relevant kept sentences holding
// fine_scope times the `excess` tokens, read by the scorer as one text (in output order) and
// returned with their spans in the coarse output.
Result<std::vector<ScoredToken>> ScoreLeastRelevant(std::string_view question,
                                                    const Compressed& coarse, int64_t excess,
                                                    const CompressOptions& options,
                                                    TokenScorer& scorer) {
  std::vector<size_t> order(coarse.kept.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return coarse.kept[a].score < coarse.kept[b].score;
  });
  const double scope = options.fine_scope * static_cast<double>(excess);
  std::vector<size_t> chosen;
  double tokens = 0;
  for (size_t i : order) {
    if (tokens >= scope) break;
    chosen.push_back(i);
    tokens += coarse.kept[i].tokens;
  }
  std::sort(chosen.begin(), chosen.end());
  std::string text;
  std::vector<std::pair<size_t, size_t>> pieces;  // (offset in text, offset in the output)
  for (size_t i : chosen) {
    if (!text.empty()) text += ' ';
    pieces.push_back({text.size(), coarse.kept[i].out_begin});
    const KeptSentence& k = coarse.kept[i];
    text.append(coarse.text, k.out_begin, k.out_end - k.out_begin);
  }
  Result<std::vector<ScoredToken>> scored = scorer.Score(question, text, options.segment_tokens);
  if (!scored.ok()) return scored;
  for (ScoredToken& t : *scored) {  // into output offsets (a token may not span two pieces)
    auto piece = std::upper_bound(pieces.begin(), pieces.end(), std::make_pair(t.begin, SIZE_MAX));
    const auto [text_at, out_at] = *std::prev(piece);
    const size_t piece_end = piece == pieces.end() ? text.size() : piece->first - 1;
    t.end = std::min(t.end, piece_end) - text_at + out_at;
    t.begin = t.begin - text_at + out_at;
  }
  return scored;
}

}  // namespace

Status ValidateCompressOptions(const CompressOptions& options) {
  if (Status s = ValidateRatioOrBudget(options.ratio, options.budget_tokens); !s.ok()) return s;
  auto bad = [](std::string what) { return Status::InvalidArgument("compress: " + what); };
  if (!(options.fine_share >= 0.0 && options.fine_share <= 4.0)) {
    return bad("fine_share " + std::to_string(options.fine_share) + " is out of range; use 0..4");
  }
  if (!(options.contrast_weight >= 0.0 && options.contrast_weight <= 100.0)) {
    return bad("contrast_weight " + std::to_string(options.contrast_weight) +
               " is out of range; use 0..100");
  }
  if (!(options.fine_scope >= 1.0 && options.fine_scope <= 100.0)) {
    return bad("fine_scope " + std::to_string(options.fine_scope) + " is out of range; use 1..100");
  }
  if (options.segment_tokens < 16 || options.segment_tokens > 4096) {
    return bad("segment_tokens " + std::to_string(options.segment_tokens) +
               " is out of range; use 16..4096");
  }
  return Status::OK();
}

Result<Compressed> Compress(std::string_view question, const std::vector<std::string>& documents,
                            const CompressOptions& options, const CompressModels& models) {
  if (Status s = ValidateCompressOptions(options); !s.ok()) return s;
  if (!models.count_tokens) return Status::InvalidArgument("compress: no token counter given");
  if (options.budget_tokens > 0) {
    const int64_t question_tokens = models.count_tokens(question);
    if (question_tokens > options.budget_tokens) {
      return Status::InvalidArgument(
          "compress: the budget of " + std::to_string(options.budget_tokens) +
          " tokens is smaller than the question (" + std::to_string(question_tokens) +
          " tokens); give a budget that at least holds the question");
    }
  }
  const bool fine = models.scorer != nullptr && options.fine_share > 0.0;
  // The coarse stage keeps the fine stage's share on top of the budget.
  CoarseOptions coarse = options.coarse;
  const double widen = fine ? 1.0 + options.fine_share : 1.0;
  coarse.ratio = options.ratio / widen;
  coarse.budget_tokens = static_cast<int64_t>(
      std::min(std::floor(static_cast<double>(options.budget_tokens) * widen),
               static_cast<double>(std::numeric_limits<int64_t>::max() / 4)));
  if (options.ratio != 0.0 && coarse.ratio <= 1.0) {  // the widened budget keeps everything
    coarse.ratio = 0.0;
    coarse.budget_tokens = std::numeric_limits<int64_t>::max() / 4;
  }
  auto start = std::chrono::steady_clock::now();
  Result<Compressed> out =
      CompressCoarse(question, documents, coarse, models.count_tokens, models.embedder);
  if (!out.ok()) return out;
  out->coarse_ms = MillisecondsSince(start);
  const int64_t budget = options.budget_tokens > 0
                             ? options.budget_tokens
                             : static_cast<int64_t>(std::floor(out->tokens_in / options.ratio));
  if (!fine || out->tokens_out <= budget) return out;
  start = std::chrono::steady_clock::now();
  Result<std::vector<ScoredToken>> tokens =
      ScoreLeastRelevant(question, *out, out->tokens_out - budget, options, *models.scorer);
  if (!tokens.ok()) return tokens.status();
  Compressed dropped = DropWords(*out, documents, *tokens, budget, options.contrast_weight,
                                 models.count_tokens);
  dropped.fine_ms = MillisecondsSince(start);
  return dropped;
}

}  // namespace engram::compress
