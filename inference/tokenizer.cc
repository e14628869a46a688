#include "inference/tokenizer.h"

#include <algorithm>
#include <filesystem>

#include "inference/gguf.h"
#include "inference/internal/bpe_tokenizer.h"
#include "inference/internal/spm_tokenizer.h"
#include "inference/internal/wordpiece_tokenizer.h"

namespace engram::inference {

std::string_view Tokenizer::TokenText(int32_t id) const {
  if (id < 0 || id >= VocabSize()) return {};
  return texts_[id];
}

TokenKind Tokenizer::Kind(int32_t id) const {
  if (id < 0 || id >= VocabSize()) return TokenKind::kUndefined;
  return kinds_[id];
}

int32_t Tokenizer::Find(std::string_view text) const {
  auto it = index_.find(text);
  return it == index_.end() ? kNoToken : it->second;
}

bool Tokenizer::IsEndOfGeneration(int32_t id) const {
  return id != kNoToken &&
         std::find(end_of_generation_.begin(), end_of_generation_.end(), id) !=
             end_of_generation_.end();
}

void Tokenizer::SetVocabulary(std::vector<std::string> texts, std::vector<TokenKind> kinds) {
  texts_ = std::move(texts);
  kinds_ = std::move(kinds);
  kinds_.resize(texts_.size(), TokenKind::kNormal);
  index_.clear();
  index_.reserve(texts_.size());
  special_by_length_.clear();
  for (size_t i = 0; i < texts_.size(); ++i) {
    // The last id wins for duplicate texts, as in llama.cpp's token_to_id map.
    index_[texts_[i]] = static_cast<int32_t>(i);
    const TokenKind k = kinds_[i];
    if ((k == TokenKind::kControl || k == TokenKind::kUserDefined || k == TokenKind::kUnknown) &&
        !texts_[i].empty()) {
      special_by_length_.push_back(static_cast<int32_t>(i));
    }
  }
  std::stable_sort(special_by_length_.begin(), special_by_length_.end(),
                   [&](int32_t a, int32_t b) { return texts_[a].size() > texts_[b].size(); });
}

std::vector<Tokenizer::Fragment> Tokenizer::SplitSpecial(std::string_view text,
                                                         bool parse_special) const {
  // Same procedure as llama.cpp's tokenizer_st_partition: for each special token, longest
  // first, cut every remaining raw fragment at each of its occurrences.
  std::vector<Fragment> fragments;
  if (!text.empty()) fragments.push_back({text, kNoToken});
  for (int32_t id : special_by_length_) {
    const TokenKind kind = kinds_[id];
    if (!parse_special && (kind == TokenKind::kControl || kind == TokenKind::kUnknown)) continue;
    const std::string_view special = texts_[id];
    std::vector<Fragment> next;
    next.reserve(fragments.size());
    bool changed = false;
    for (const Fragment& f : fragments) {
      if (f.id != kNoToken) {
        next.push_back(f);
        continue;
      }
      std::string_view rest = f.text;
      for (size_t at; (at = rest.find(special)) != std::string_view::npos;) {
        if (at > 0) next.push_back({rest.substr(0, at), kNoToken});
        next.push_back({special, id});
        rest.remove_prefix(at + special.size());
        changed = true;
      }
      if (!rest.empty()) next.push_back({rest, kNoToken});
    }
    if (changed) fragments = std::move(next);
  }
  return fragments;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const GgufFile& gguf) {
  Result<std::string_view> model = gguf.GetString("tokenizer.ggml.model");
  if (!model.ok()) {
    return Status::InvalidArgument("tokenizer: '" + gguf.path() +
                                   "' has no tokenizer (tokenizer.ggml.model is missing)");
  }
  if (*model == "gpt2") return internal::MakeBpeTokenizer(gguf);
  if (*model == "llama") return internal::MakeSpmTokenizerFromGguf(gguf);
  if (*model == "bert") return internal::MakeWordPieceTokenizerFromGguf(gguf);
  return Status::NotSupported("tokenizer: '" + gguf.path() + "' uses tokenizer model '" +
                              std::string(*model) +
                              "'; engram supports gpt2 (byte-level BPE), llama (SentencePiece) "
                              "and bert (WordPiece)");
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromSentencePieceFile(const std::string& path) {
  return internal::MakeSpmTokenizerFromFile(path);
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromWordPieceVocab(const std::string& path,
                                                                 bool lowercase) {
  return internal::MakeWordPieceTokenizerFromVocab(path, lowercase);
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return Status::NotFound("tokenizer: '" + path + "' does not exist");
  }
  if (fs::is_directory(path, ec)) {
    const fs::path vocab = fs::path(path) / "vocab.txt";
    if (fs::exists(vocab, ec)) return FromWordPieceVocab(vocab.string());
    return Status::InvalidArgument("tokenizer: directory '" + path +
                                   "' holds no vocab.txt (expected a BERT model directory)");
  }
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".model") return FromSentencePieceFile(path);
  if (ext == ".txt") return FromWordPieceVocab(path);
  Result<std::unique_ptr<GgufFile>> gguf = GgufFile::Open(path);
  if (!gguf.ok()) return gguf.status();
  return FromGguf(**gguf);
}

}  // namespace engram::inference
