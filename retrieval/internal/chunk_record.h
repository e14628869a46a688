// A collection's chunk as stored in its `chunks` column family (retrieval/collection.h), and the
// best-sentence cosine that hybrid search's rescoring reads from it.
//
// Layout, little-endian: [u64 document][u64 begin][u64 end][u32 tokens][u32 terms][u32 dim]
// [dim f32 embedding], then in format 6 and later [u32 sentences][sentences × (f32 scale,
// dim i8)], then the text. A sentence vector is the embedding of one sentence of the chunk
// (SplitSentences, with the title as the chunk has it), kept as int8 codes × a scale
// (QuantizeVector): a quarter of the f32 bytes, and cosines within about 0.005 of f32's.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace engram::retrieval::internal {

template <typename T>
void AppendRaw(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// The T at byte `at` of `s`; T{} past the end.
template <typename T>
T ReadRaw(std::string_view s, size_t at) {
  T v{};
  if (at + sizeof v <= s.size()) std::memcpy(&v, s.data() + at, sizeof v);
  return v;
}

// An int8 vector: value[d] ≈ scale × codes[d].
struct QuantizedVector {
  float scale = 0.0f;
  std::vector<int8_t> codes;
};
// Codes within -127..127, the scale max|v| / 127; a zero vector (scale 0) for a zero or
// non-finite `v`.
QuantizedVector QuantizeVector(std::span<const float> v);

struct ChunkRecord {
  uint64_t document = 0, begin = 0, end = 0;
  uint32_t tokens = 0, terms = 0;
  std::vector<float> embedding;
  std::vector<QuantizedVector> sentences;  // format 6: one per sentence, in order
  std::string text;

  // `with_sentences`: the format-6 layout (sentence vectors, possibly none), else format 5's.
  std::string Encode(bool with_sentences) const;
  // nullopt for a record too short for what its header says.
  static std::optional<ChunkRecord> Decode(std::string_view s, bool with_sentences);
};

// The chunk's sentence nearest `query`: its index (in SplitSentences(chunk.text)'s order) and its
// cosine, the largest of the sentence vectors' (the first on ties); nullopt for a chunk without
// any.
struct BestSentence {
  size_t index = 0;
  double cosine = 0.0;
};
std::optional<BestSentence> FindBestSentence(std::span<const float> query,
                                             const ChunkRecord& chunk);

}  // namespace engram::retrieval::internal
