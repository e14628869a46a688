#include "retrieval/internal/chunk_record.h"

#include <algorithm>
#include <cmath>

namespace engram::retrieval::internal {

QuantizedVector QuantizeVector(std::span<const float> v) {
  QuantizedVector q;
  q.codes.resize(v.size(), 0);
  float max_abs = 0.0f;
  for (float x : v) {
    if (!std::isfinite(x)) return q;  // a zero vector: it scores 0 rather than garbage
    max_abs = std::max(max_abs, std::fabs(x));
  }
  if (max_abs == 0.0f) return q;
  q.scale = max_abs / 127.0f;
  for (size_t d = 0; d < v.size(); ++d) {
    q.codes[d] = static_cast<int8_t>(std::clamp(std::lround(v[d] / q.scale), -127L, 127L));
  }
  return q;
}

std::string ChunkRecord::Encode(bool with_sentences) const {
  std::string out;
  AppendRaw(out, document);
  AppendRaw(out, begin);
  AppendRaw(out, end);
  AppendRaw(out, tokens);
  AppendRaw(out, terms);
  AppendRaw(out, static_cast<uint32_t>(embedding.size()));
  out.append(reinterpret_cast<const char*>(embedding.data()), embedding.size() * sizeof(float));
  if (with_sentences) {
    AppendRaw(out, static_cast<uint32_t>(sentences.size()));
    for (const QuantizedVector& s : sentences) {
      AppendRaw(out, s.scale);
      // Every sentence vector has the embedding's dimension (Decode relies on it).
      std::vector<int8_t> codes = s.codes;
      codes.resize(embedding.size(), 0);
      out.append(reinterpret_cast<const char*>(codes.data()), codes.size());
    }
  }
  out += text;
  return out;
}

std::optional<ChunkRecord> ChunkRecord::Decode(std::string_view s, bool with_sentences) {
  constexpr size_t kHeader = 8 * 3 + 4 * 3;
  if (s.size() < kHeader) return std::nullopt;
  ChunkRecord r;
  r.document = ReadRaw<uint64_t>(s, 0);
  r.begin = ReadRaw<uint64_t>(s, 8);
  r.end = ReadRaw<uint64_t>(s, 16);
  r.tokens = ReadRaw<uint32_t>(s, 24);
  r.terms = ReadRaw<uint32_t>(s, 28);
  const size_t dim = ReadRaw<uint32_t>(s, 32);
  size_t at = kHeader;
  if (s.size() < at + dim * 4) return std::nullopt;
  r.embedding.resize(dim);
  std::memcpy(r.embedding.data(), s.data() + at, dim * 4);
  at += dim * 4;
  if (with_sentences) {
    if (s.size() < at + 4) return std::nullopt;
    const size_t n = ReadRaw<uint32_t>(s, at);
    at += 4;
    // Compare by division: n × (4 + dim) could overflow for a damaged count.
    if ((s.size() - at) / (4 + dim) < n) return std::nullopt;
    r.sentences.resize(n);
    for (QuantizedVector& v : r.sentences) {
      v.scale = ReadRaw<float>(s, at);
      v.codes.resize(dim);
      std::memcpy(v.codes.data(), s.data() + at + 4, dim);
      at += 4 + dim;
    }
  }
  r.text = std::string(s.substr(at));
  return r;
}

std::optional<BestSentence> FindBestSentence(std::span<const float> query,
                                             const ChunkRecord& chunk) {
  double query_norm = 0.0;
  for (float x : query) query_norm += static_cast<double>(x) * x;
  std::optional<BestSentence> best;
  for (size_t i = 0; i < chunk.sentences.size(); ++i) {
    const QuantizedVector& v = chunk.sentences[i];
    double dot = 0.0, norm = 0.0;
    for (size_t d = 0; d < v.codes.size() && d < query.size(); ++d) {
      dot += static_cast<double>(query[d]) * v.codes[d];
      norm += static_cast<double>(v.codes[d]) * v.codes[d];
    }
    // The scale cancels in the cosine.
    const double cosine = norm > 0.0 && query_norm > 0.0 ? dot / std::sqrt(norm * query_norm) : 0.0;
    if (!best || cosine > best->cosine) best = BestSentence{i, cosine};
  }
  return best;
}

}  // namespace engram::retrieval::internal
