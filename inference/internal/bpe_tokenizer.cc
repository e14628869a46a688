#include "inference/internal/bpe_tokenizer.h"

#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "inference/internal/gguf_vocab.h"
#include "inference/internal/pretokenizer.h"
#include "inference/internal/unicode.h"

namespace engram::inference::internal {
namespace {

// Replaces llama.cpp's (and HF's) clean_up_tokenization_spaces on decode.
void CleanUpTokenizationSpaces(std::string& text) {
  static const std::pair<std::string_view, std::string_view> kRules[] = {
      {" .", "."},     {" ?", "?"},     {" !", "!"},     {" ,", ","},   {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"},   {" 's", "'s"},   {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) {
    std::string out;
    out.reserve(text.size());
    size_t start = 0;
    for (size_t at; (at = text.find(from, start)) != std::string::npos; start = at + from.size()) {
      out.append(text, start, at - start);
      out.append(to);
    }
    out.append(text, start, std::string::npos);
    text = std::move(out);
  }
}

bool IsOneOf(std::string_view name, std::initializer_list<std::string_view> names) {
  for (std::string_view n : names) {
    if (name == n) return true;
  }
  return false;
}

class BpeTokenizer final : public GgufVocabTokenizer {
 public:
  Status Load(const GgufFile& gguf) {
    std::string pre_name = "default";
    if (const GgufValue* v = gguf.Find("tokenizer.ggml.pre")) {
      Result<std::string_view> s = v->AsString();
      if (!s.ok()) return s.status().WithContext("tokenizer: tokenizer.ggml.pre");
      pre_name = std::string(*s);
    }
    Result<PreTokenizer> pre = PreTokenizerFromGgufName(pre_name);
    if (!pre.ok()) return pre.status().WithContext("tokenizer: '" + gguf.path() + "'");
    pre_ = *pre;
    // llama.cpp sets these per pre-tokenizer name, not per regex family.
    const bool llama3_names = IsOneOf(pre_name, {"llama3", "llama-v3", "llama-bpe", "falcon3",
                                                 "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                                                 "jina-v5-nano"});
    ignore_merges_ = llama3_names || IsOneOf(pre_name, {"glm4", "glm5"});
    clean_spaces_ = !IsOneOf(pre_name, {"smollm", "command-r", "qwen2", "deepseek-r1-qwen",
                                        "kormo", "f2llmv2", "qwen35", "trillion",
                                        "granite-docling"});
    GgufVocabDefaults defaults;
    defaults.bos = 11;  // llama.cpp's defaults for gpt2 vocabularies
    defaults.eos = 11;
    defaults.add_bos = llama3_names;
    Status s = LoadGgufVocabulary(gguf, defaults);
    if (!s.ok()) return s;

    const GgufValue* merges = gguf.Find("tokenizer.ggml.merges");
    if (merges == nullptr) {
      return Status::InvalidArgument("tokenizer: '" + gguf.path() +
                                     "' is a BPE vocabulary without tokenizer.ggml.merges");
    }
    Result<std::vector<std::string_view>> lines = merges->AsStringArray();
    if (!lines.ok()) return lines.status().WithContext("tokenizer: tokenizer.ggml.merges");
    ranks_.reserve(lines->size());
    for (size_t i = 0; i < lines->size(); ++i) {
      // "left right"; the separator is the first space after the first byte (llama.cpp).
      const std::string_view line = (*lines)[i];
      const size_t space = line.find(' ', 1);
      if (space == std::string_view::npos) continue;  // llama.cpp keeps an unusable ("","") pair
      ranks_.emplace(std::string(line), static_cast<int32_t>(i));
    }
    return Status::OK();
  }

  std::vector<int32_t> Encode(std::string_view text, const EncodeOptions& options) const override {
    std::vector<int32_t> out;
    if (options.add_special && add_bos_ && bos_ != kNoToken) out.push_back(bos_);
    for (const Fragment& f : SplitSpecial(text, options.parse_special)) {
      if (f.id != kNoToken) {
        out.push_back(f.id);
        continue;
      }
      for (const std::string& word : PreTokenize(pre_, f.text)) {
        EncodeWord(ByteToUnicodeBpe(word), out);
      }
    }
    if (options.add_special && add_eos_ && eos_ != kNoToken) out.push_back(eos_);
    return out;
  }

  std::string TokenToPiece(int32_t id, bool render_special) const override {
    switch (Kind(id)) {
      case TokenKind::kNormal: {
        Result<std::string> bytes = UnicodeBpeToBytes(TokenText(id));
        return bytes.ok() ? *bytes : std::string(TokenText(id));
      }
      case TokenKind::kUserDefined:
        return std::string(TokenText(id));
      case TokenKind::kControl:
      case TokenKind::kUnknown:
        return render_special ? std::string(TokenText(id)) : std::string();
      default:
        return {};
    }
  }

  std::string Decode(std::span<const int32_t> ids, const DecodeOptions& options) const override {
    std::string text;
    for (int32_t id : ids) text += TokenToPiece(id, options.render_special);
    if (clean_spaces_) CleanUpTokenizationSpaces(text);
    return text;
  }

  std::string_view Family() const override { return "bpe"; }

 private:
  struct Symbol {
    int32_t prev;
    int32_t next;
    size_t begin;  // byte range in the word
    size_t size;
  };
  struct Bigram {
    int32_t left;
    int32_t right;
    int32_t rank;
    size_t size;
  };
  struct BigramOrder {  // lowest rank first; leftmost on ties (llama.cpp's order)
    bool operator()(const Bigram& a, const Bigram& b) const {
      return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    }
  };

  int32_t Rank(std::string_view left, std::string_view right) const {
    std::string key;
    key.reserve(left.size() + 1 + right.size());
    key.append(left).append(1, ' ').append(right);
    auto it = ranks_.find(key);
    return it == ranks_.end() ? -1 : it->second;
  }

  // Merges one pre-tokenized word (already mapped to the byte-level alphabet) and appends its
  // tokens, like llama.cpp's llm_tokenizer_bpe_session.
  void EncodeWord(const std::string& word, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    if (ignore_merges_) {
      const int32_t whole = Find(word);
      if (whole != kNoToken) {
        out.push_back(whole);
        return;
      }
    }
    std::vector<Symbol> symbols;
    for (size_t at = 0; at < word.size();) {
      const size_t n = std::min(word.size() - at, Utf8SequenceLength(word[at]));
      const auto index = static_cast<int32_t>(symbols.size());
      symbols.push_back({index - 1, at + n == word.size() ? -1 : index + 1, at, n});
      at += n;
    }
    std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
    const std::string_view w(word);
    auto add_bigram = [&](int32_t left, int32_t right) {
      if (left < 0 || right < 0) return;
      const Symbol& l = symbols[left];
      const Symbol& r = symbols[right];
      const int32_t rank = Rank(w.substr(l.begin, l.size), w.substr(r.begin, r.size));
      if (rank >= 0) queue.push({left, right, rank, l.size + r.size});
    };
    for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) add_bigram(i - 1, i);
    while (!queue.empty()) {
      const Bigram b = queue.top();
      queue.pop();
      Symbol& l = symbols[b.left];
      Symbol& r = symbols[b.right];
      // Skip bigrams made stale by an earlier merge: both sides must still be adjacent and
      // unchanged (same total length and contiguous).
      if (l.size == 0 || r.size == 0 || l.next != b.right || l.size + r.size != b.size) continue;
      l.size += r.size;
      r.size = 0;
      l.next = r.next;
      if (r.next >= 0) symbols[r.next].prev = b.left;
      add_bigram(l.prev, b.left);
      add_bigram(b.left, l.next);
    }
    for (const Symbol& s : symbols) {
      if (s.size == 0) continue;
      const std::string_view piece = w.substr(s.begin, s.size);
      const int32_t id = Find(piece);
      if (id != kNoToken) {
        out.push_back(id);
        continue;
      }
      // Not in the vocabulary: llama.cpp falls back to single-byte tokens and drops bytes
      // that have none.
      for (char c : piece) {
        const int32_t byte_id = Find(std::string_view(&c, 1));
        if (byte_id != kNoToken) out.push_back(byte_id);
      }
    }
  }

  PreTokenizer pre_ = PreTokenizer::kDefault;
  bool ignore_merges_ = false;
  bool clean_spaces_ = true;
  std::unordered_map<std::string, int32_t> ranks_;  // "left right" -> merge rank
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> MakeBpeTokenizer(const GgufFile& gguf) {
  auto tokenizer = std::make_unique<BpeTokenizer>();
  Status s = tokenizer->Load(gguf);
  if (!s.ok()) return s;
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

}  // namespace engram::inference::internal
