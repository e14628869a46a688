#include "inference/internal/wordpiece_tokenizer.h"

#include <sstream>

#include "common/input_file.h"
#include "inference/internal/gguf_vocab.h"
#include "inference/internal/unicode.h"

namespace engram::inference::internal {
namespace {

constexpr uint64_t kMaxVocabBytes = uint64_t{64} << 20;
constexpr size_t kMaxCharsPerWord = 100;  // HF WordPiece max_input_chars_per_word
constexpr std::string_view kContinuation = "##";
// llama.cpp's GGUF conversion of BERT vocabularies marks word starts with "▁" instead of
// marking continuations with "##".
constexpr std::string_view kWordStartMark = "\xE2\x96\x81";

class WordPieceTokenizer final : public Tokenizer {
 public:
  // `texts` in id order. `word_start_marked`: the GGUF spelling (see kWordStartMark).
  Status Init(std::vector<std::string> texts, std::vector<TokenKind> kinds, bool lowercase,
              bool word_start_marked) {
    lowercase_ = lowercase;
    word_start_marked_ = word_start_marked;
    SetVocabulary(std::move(texts), std::move(kinds));
    unk_ = Find("[UNK]");
    bos_ = Find("[CLS]");
    eos_ = Find("[SEP]");
    pad_ = Find("[PAD]");
    if (unk_ == kNoToken) {
      return Status::InvalidArgument("tokenizer: WordPiece vocabulary has no [UNK] token");
    }
    add_bos_ = bos_ != kNoToken;
    add_eos_ = eos_ != kNoToken;
    return Status::OK();
  }

  std::vector<int32_t> Encode(std::string_view text, const EncodeOptions& options) const override {
    std::vector<int32_t> out;
    if (options.add_special && add_bos_) out.push_back(bos_);
    for (const Fragment& f : SplitSpecial(text, options.parse_special)) {
      if (f.id != kNoToken) {
        out.push_back(f.id);
        continue;
      }
      for (const std::u32string& word : SplitWords(Normalize(f.text))) EncodeWord(word, out);
    }
    if (options.add_special && add_eos_) out.push_back(eos_);
    return out;
  }

  std::string TokenToPiece(int32_t id, bool render_special) const override {
    const TokenKind kind = Kind(id);
    if (kind == TokenKind::kUndefined) return {};
    if ((kind == TokenKind::kControl || kind == TokenKind::kUnknown) && !render_special) {
      return {};
    }
    std::string_view text = TokenText(id);
    if (word_start_marked_) {
      if (text.substr(0, kWordStartMark.size()) == kWordStartMark) {
        return " " + std::string(text.substr(kWordStartMark.size()));
      }
      return std::string(text);
    }
    if (text.substr(0, kContinuation.size()) == kContinuation) {
      return std::string(text.substr(kContinuation.size()));
    }
    return " " + std::string(text);
  }

  // HF's WordPiece decoder: words joined by spaces, "##" pieces glued to the previous one,
  // then clean_up_tokenization_spaces.
  std::string Decode(std::span<const int32_t> ids, const DecodeOptions& options) const override {
    std::string text;
    for (int32_t id : ids) text += TokenToPiece(id, options.render_special);
    if (!text.empty() && text[0] == ' ') text.erase(0, 1);
    static const std::pair<std::string_view, std::string_view> kRules[] = {
        {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
        {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : kRules) {
      for (size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size()) {
        text.replace(at, from.size(), to);
      }
    }
    return text;
  }

  std::string_view Family() const override { return "wordpiece"; }

 private:
  // BertNormalizer: drop NUL, U+FFFD and control characters, map whitespace to ' ', put
  // spaces around CJK ideographs, strip accents (NFD, drop Mn) and lowercase when uncased.
  std::u32string Normalize(std::string_view text) const {
    std::u32string out;
    for (uint32_t cp : DecodeUtf8Replace(text)) {
      if (cp == 0 || cp == 0xFFFD || IsBertControl(cp)) continue;
      if (IsBertWhitespace(cp)) {
        out.push_back(U' ');
      } else if (IsCjk(cp)) {
        out.push_back(U' ');
        out.push_back(cp);
        out.push_back(U' ');
      } else {
        out.push_back(cp);
      }
    }
    if (!lowercase_) return out;
    std::u32string folded;
    folded.reserve(out.size());
    for (char32_t cp : out) {
      const uint32_t one = cp;
      for (uint32_t d : Nfd(std::span<const uint32_t>(&one, 1))) {
        if (GetGeneralCategory(d) == GeneralCategory::kMn) continue;  // strip accents
        folded.push_back(ToLower(d));
      }
    }
    return folded;
  }

  // BertPreTokenizer: split on whitespace (dropped) and around punctuation (kept alone).
  static std::vector<std::u32string> SplitWords(const std::u32string& text) {
    std::vector<std::u32string> words;
    std::u32string word;
    auto flush = [&] {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    };
    for (char32_t cp : text) {
      if (IsBertWhitespace(cp)) {
        flush();
      } else if (IsBertPunctuation(cp)) {
        flush();
        words.push_back(std::u32string(1, cp));
      } else {
        word.push_back(cp);
      }
    }
    flush();
    return words;
  }

  // Greedy longest match from the left; a word with an unmatchable rest is one [UNK].
  void EncodeWord(const std::u32string& word, std::vector<int32_t>& out) const {
    if (word.size() > kMaxCharsPerWord) {
      out.push_back(unk_);
      return;
    }
    std::vector<std::string> prefixes(word.size() + 1);  // UTF-8 of word[0..i)
    for (size_t i = 0; i < word.size(); ++i) {
      prefixes[i + 1] = prefixes[i];
      AppendUtf8(word[i], prefixes[i + 1]);
    }
    const size_t mark = out.size();
    for (size_t start = 0; start < word.size();) {
      int32_t found = kNoToken;
      size_t end = word.size();
      for (; end > start; --end) {
        std::string piece = prefixes[end].substr(prefixes[start].size());
        if (word_start_marked_) {
          if (start == 0) piece.insert(0, kWordStartMark);
        } else if (start > 0) {
          piece.insert(0, kContinuation);
        }
        found = Find(piece);
        if (found != kNoToken) break;
      }
      if (found == kNoToken) {
        out.resize(mark);
        out.push_back(unk_);
        return;
      }
      out.push_back(found);
      start = end;
    }
  }

  bool lowercase_ = true;
  bool word_start_marked_ = false;
};

std::vector<TokenKind> BertKinds(const std::vector<std::string>& texts) {
  std::vector<TokenKind> kinds(texts.size(), TokenKind::kNormal);
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string& t = texts[i];
    if (t == "[UNK]") {
      kinds[i] = TokenKind::kUnknown;
    } else if (t == "[PAD]" || t == "[CLS]" || t == "[SEP]" || t == "[MASK]") {
      kinds[i] = TokenKind::kControl;
    }
  }
  return kinds;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> MakeWordPieceTokenizerFromVocab(const std::string& path,
                                                                   bool lowercase) {
  Result<std::string> bytes = ReadFileBounded(path, kMaxVocabBytes, "WordPiece vocabulary");
  if (!bytes.ok()) return bytes.status().WithContext("tokenizer");
  std::istringstream in(*bytes);
  std::vector<std::string> texts;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    texts.push_back(std::move(line));
  }
  if (texts.empty()) {
    return Status::InvalidArgument("tokenizer: WordPiece vocabulary '" + path + "' is empty");
  }
  std::vector<TokenKind> kinds = BertKinds(texts);
  auto tokenizer = std::make_unique<WordPieceTokenizer>();
  Status s = tokenizer->Init(std::move(texts), std::move(kinds), lowercase, false);
  if (!s.ok()) return s.WithContext("'" + path + "'");
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

Result<std::unique_ptr<Tokenizer>> MakeWordPieceTokenizerFromGguf(const GgufFile& gguf) {
  Result<GgufVocabulary> vocab = ReadGgufVocabulary(gguf, {});
  if (!vocab.ok()) return vocab.status();
  bool marked = false;
  for (const std::string& t : vocab->texts) {
    if (t.rfind(kWordStartMark, 0) == 0) {
      marked = true;
      break;
    }
  }
  auto tokenizer = std::make_unique<WordPieceTokenizer>();
  Status s = tokenizer->Init(std::move(vocab->texts), std::move(vocab->kinds), true, marked);
  if (!s.ok()) return s.WithContext("'" + gguf.path() + "'");
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

}  // namespace engram::inference::internal
