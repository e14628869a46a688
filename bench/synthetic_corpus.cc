#include "bench/synthetic_corpus.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace engram::bench {
namespace {

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

// Word i as syllables: distinct for distinct i, letters only (one BM25 term each).
std::string PseudoWord(int i) {
  static constexpr const char* kOnsets[] = {"b", "d", "f", "g", "k", "l", "m", "n", "p",
                                            "r", "s", "t", "v", "z", "ch", "sh"};
  static constexpr const char* kVowels[] = {"a", "e", "i", "o", "u"};
  constexpr int kSyllables = 16 * 5;
  std::string word;
  int n = i;
  do {  // at least two syllables, so no word is an English stop word
    word += kOnsets[(n % kSyllables) / 5];
    word += kVowels[n % 5];
    n /= kSyllables;
  } while (n > 0 || word.size() < 4);
  return word;
}

bool IsWordByte(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

template <typename Fn>
void ForEachWord(std::string_view text, Fn fn) {
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !IsWordByte(text[i])) ++i;
    const size_t start = i;
    while (i < text.size() && IsWordByte(text[i])) ++i;
    if (i > start) fn(text.substr(start, i - start));
  }
}

}  // namespace

SyntheticCorpus::SyntheticCorpus(const SyntheticCorpusOptions& options) : options_(options) {
  words_.reserve(static_cast<size_t>(options.vocabulary));
  for (int i = 0; i < options.vocabulary; ++i) words_.push_back(PseudoWord(i));
  background_cdf_.resize(words_.size());
  double sum = 0.0;
  for (size_t i = 0; i < words_.size(); ++i) {
    sum += 1.0 / std::pow(static_cast<double>(i + 1), 1.1);
    background_cdf_[i] = sum;
  }
  for (double& c : background_cdf_) c /= sum;
  std::mt19937_64 rng(options.seed);
  std::uniform_int_distribution<int> any_word(0, options.vocabulary - 1);
  topic_words_.resize(static_cast<size_t>(options.topics));
  for (std::vector<int>& topic : topic_words_) {
    for (int w = 0; w < options.topic_words; ++w) topic.push_back(any_word(rng));
  }
}

int SyntheticCorpus::TopicOf(uint64_t index) const {
  uint64_t state = options_.seed * 0x51AFD7ED558CCD ^ index;
  return static_cast<int>(SplitMix64(state) % static_cast<uint64_t>(options_.topics));
}

int SyntheticCorpus::Background(std::mt19937_64& rng) const {
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  const auto it = std::lower_bound(background_cdf_.begin(), background_cdf_.end(), u);
  return static_cast<int>(std::min<ptrdiff_t>(it - background_cdf_.begin(),
                                              static_cast<ptrdiff_t>(words_.size()) - 1));
}

std::string SyntheticCorpus::Document(uint64_t index, int* topic_out) const {
  const int topic = TopicOf(index);
  if (topic_out != nullptr) *topic_out = topic;
  std::mt19937_64 rng(options_.seed ^ (index * 0x9E3779B97F4A7C15ULL));
  const std::vector<int>& topic_words = topic_words_[static_cast<size_t>(topic)];
  std::uniform_int_distribution<int> length(options_.min_words, options_.max_words);
  std::uniform_int_distribution<int> sentence_length(8, 16);
  std::uniform_int_distribution<size_t> pick_topic_word(0, topic_words.size() - 1);
  std::bernoulli_distribution from_topic(0.8);
  std::string text;
  int left = length(rng);
  while (left > 0) {
    const int n = std::min(left, sentence_length(rng));
    for (int w = 0; w < n; ++w) {
      const int word = from_topic(rng) ? topic_words[pick_topic_word(rng)] : Background(rng);
      std::string_view s = words_[static_cast<size_t>(word)];
      if (w == 0) {
        text += static_cast<char>(s[0] - 'a' + 'A');
        text.append(s.substr(1));
      } else {
        text += ' ';
        text.append(s);
      }
    }
    text += ". ";
    left -= n;
  }
  text.pop_back();
  return text;
}

std::string SyntheticCorpus::Query(uint64_t index, int words) const {
  const std::string doc = Document(index);
  std::vector<std::string_view> doc_words;
  ForEachWord(doc, [&](std::string_view w) { doc_words.push_back(w); });
  std::mt19937_64 rng(options_.seed ^ (index * 0xD1B54A32D192ED03ULL) ^ 0x5bd1e995);
  std::string query;
  for (int i = 0; i < words; ++i) {
    if (!query.empty()) query += ' ';
    // Mostly the document's own words; one in four from the background, as a paraphrase would.
    if (i % 4 == 3) {
      query += words_[static_cast<size_t>(Background(rng))];
    } else {
      query += doc_words[std::uniform_int_distribution<size_t>(0, doc_words.size() - 1)(rng)];
    }
  }
  for (char& c : query) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return query;
}

int SyntheticEmbedder::CountTokens(std::string_view text) const {
  int words = 0;
  ForEachWord(text, [&](std::string_view) { ++words; });
  return words + 2;
}

Result<retrieval::EmbeddingBatch> SyntheticEmbedder::Embed(std::span<const std::string> texts) {
  retrieval::EmbeddingBatch batch;
  batch.dim = dim_;
  batch.values.assign(texts.size() * static_cast<size_t>(dim_), 0.0f);
  std::vector<uint64_t> hashes;
  for (size_t t = 0; t < texts.size(); ++t) {
    hashes.clear();
    int words = 0;
    ForEachWord(texts[t], [&](std::string_view w) {
      std::string lower(w);
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      hashes.push_back(Fnv1a(lower));
      ++words;
    });
    std::sort(hashes.begin(), hashes.end());
    hashes.erase(std::unique(hashes.begin(), hashes.end()), hashes.end());
    float* row = batch.values.data() + t * static_cast<size_t>(dim_);
    for (uint64_t h : hashes) {
      uint64_t state = h;
      for (int d = 0; d < dim_; d += 64) {
        const uint64_t bits = SplitMix64(state);
        for (int j = 0; j < 64 && d + j < dim_; ++j) row[d + j] += (bits >> j) & 1 ? 1.0f : -1.0f;
      }
    }
    double norm = 0.0;
    for (int d = 0; d < dim_; ++d) norm += static_cast<double>(row[d]) * row[d];
    if (norm == 0.0) {
      row[0] = 1.0f;  // a text without words: a fixed unit vector
    } else {
      const float inv = static_cast<float>(1.0 / std::sqrt(norm));
      for (int d = 0; d < dim_; ++d) row[d] *= inv;
    }
    batch.tokens.push_back(words + 2);
    batch.truncated.push_back(0);
  }
  return batch;
}

}  // namespace engram::bench
