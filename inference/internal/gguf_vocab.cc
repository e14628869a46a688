#include "inference/internal/gguf_vocab.h"

#include <algorithm>
#include <iterator>
#include <string>

namespace engram::inference::internal {
namespace {

// Token texts llama.cpp takes as the end-of-turn token when the file names none, in order of
// preference.
constexpr std::string_view kEndOfTurnTexts[] = {
    "<|eot_id|>",    "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
    "<|end_of_text|>", "<EOT>",    "_<EOT>",  "[EOT]",          "<｜end▁of▁sentence｜>",
    "<end_of_utterance>"};
// Token texts that end generation (llama.cpp's list); they are forced to be control tokens.
constexpr std::string_view kEndOfGenerationTexts[] = {
    "<|eot_id|>", "<|im_end|>",  "<|end|>",    "<|return|>",      "<|call|>",
    "<|flush|>",  "<|calls|>",   "<end_of_turn>", "<|endoftext|>", "</s>",
    "<|eom_id|>", "<EOT>",       "_<EOT>",     "[EOT]",           "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<｜end▁of▁sentence｜>", "[e~["};

Status ReadOptionalId(const GgufFile& gguf, std::string_view key, int32_t vocab_size,
                      int32_t& id) {
  const GgufValue* v = gguf.Find(key);
  if (v == nullptr) return Status::OK();
  Result<int64_t> value = v->AsInt64();
  if (!value.ok()) return value.status().WithContext("tokenizer: " + std::string(key));
  if (*value < 0 || *value >= vocab_size) {
    // llama.cpp ignores ids outside the vocabulary (with a warning); so do we.
    id = Tokenizer::kNoToken;
    return Status::OK();
  }
  id = static_cast<int32_t>(*value);
  return Status::OK();
}

}  // namespace

Result<GgufVocabulary> ReadGgufVocabulary(const GgufFile& gguf,
                                          const GgufVocabDefaults& defaults) {
  constexpr int32_t kNoToken = Tokenizer::kNoToken;
  GgufVocabulary vocab;
  const GgufValue* tokens_value = gguf.Find("tokenizer.ggml.tokens");
  if (tokens_value == nullptr) {
    return Status::InvalidArgument("tokenizer: '" + gguf.path() +
                                   "' has no vocabulary (tokenizer.ggml.tokens is missing)");
  }
  Result<std::vector<std::string_view>> tokens = tokens_value->AsStringArray();
  if (!tokens.ok()) return tokens.status().WithContext("tokenizer: tokenizer.ggml.tokens");
  if (tokens->empty() || tokens->size() > (1u << 30)) {
    return Status::InvalidArgument("tokenizer: '" + gguf.path() + "' has " +
                                   std::to_string(tokens->size()) + " tokens");
  }
  const auto n = static_cast<int32_t>(tokens->size());

  std::vector<TokenKind> kinds(n, TokenKind::kNormal);
  if (const GgufValue* types = gguf.Find("tokenizer.ggml.token_type")) {
    Result<std::vector<int64_t>> values = types->AsIntArray();
    if (!values.ok()) return values.status().WithContext("tokenizer: tokenizer.ggml.token_type");
    if (static_cast<int32_t>(values->size()) != n) {
      return Status::InvalidArgument("tokenizer: tokenizer.ggml.token_type has " +
                                     std::to_string(values->size()) + " entries for " +
                                     std::to_string(n) + " tokens");
    }
    for (int32_t i = 0; i < n; ++i) {
      const int64_t t = (*values)[i];
      kinds[i] = t >= 0 && t <= 6 ? static_cast<TokenKind>(t) : TokenKind::kUndefined;
    }
  }
  if (const GgufValue* scores = gguf.Find("tokenizer.ggml.scores")) {
    Result<std::vector<float>> values = scores->AsFloatArray();
    if (!values.ok()) return values.status().WithContext("tokenizer: tokenizer.ggml.scores");
    if (static_cast<int32_t>(values->size()) != n) {
      return Status::InvalidArgument("tokenizer: tokenizer.ggml.scores has " +
                                     std::to_string(values->size()) + " entries for " +
                                     std::to_string(n) + " tokens");
    }
    vocab.scores = std::move(*values);
  }

  vocab.bos = defaults.bos < n ? defaults.bos : kNoToken;
  vocab.eos = defaults.eos < n ? defaults.eos : kNoToken;
  vocab.unk = defaults.unk < n ? defaults.unk : kNoToken;
  vocab.pad = defaults.pad < n ? defaults.pad : kNoToken;
  int32_t eom = kNoToken;
  for (auto [key, id] : {std::pair<std::string_view, int32_t*>{"tokenizer.ggml.bos_token_id", &vocab.bos},
                         {"tokenizer.ggml.eos_token_id", &vocab.eos},
                         {"tokenizer.ggml.eot_token_id", &vocab.eot},
                         {"tokenizer.ggml.eom_token_id", &eom},
                         {"tokenizer.ggml.unknown_token_id", &vocab.unk},
                         {"tokenizer.ggml.padding_token_id", &vocab.pad}}) {
    Status s = ReadOptionalId(gguf, key, n, *id);
    if (!s.ok()) return s;
  }
  vocab.add_bos = defaults.add_bos;
  vocab.add_eos = defaults.add_eos;
  if (const GgufValue* v = gguf.Find("tokenizer.ggml.add_bos_token")) {
    Result<bool> b = v->AsBool();
    if (!b.ok()) return b.status().WithContext("tokenizer: tokenizer.ggml.add_bos_token");
    vocab.add_bos = *b;
  }
  if (const GgufValue* v = gguf.Find("tokenizer.ggml.add_eos_token")) {
    Result<bool> b = v->AsBool();
    if (!b.ok()) return b.status().WithContext("tokenizer: tokenizer.ggml.add_eos_token");
    vocab.add_eos = *b;
  }

  std::vector<std::string> texts;
  texts.reserve(n);
  for (std::string_view t : *tokens) texts.emplace_back(t);

  // End of generation: eos, eot, eom, and every token whose text is a known end-of-turn
  // marker (llama.cpp marks those control tokens even when the file forgot to).
  for (int32_t i = 0; i < n; ++i) {
    if (std::find(std::begin(kEndOfGenerationTexts), std::end(kEndOfGenerationTexts), texts[i]) !=
        std::end(kEndOfGenerationTexts)) {
      // llama.cpp adds the control attribute also to user-defined ones (Gemma 3's "</s>"),
      // and control wins: the text is then only matched when parsing special tokens.
      if (kinds[i] == TokenKind::kNormal || kinds[i] == TokenKind::kUserDefined) {
        kinds[i] = TokenKind::kControl;
      }
      vocab.end_of_generation.push_back(i);
    }
  }
  if (vocab.eot == kNoToken) {
    for (std::string_view marker : kEndOfTurnTexts) {  // in order of preference
      auto it = std::find(texts.begin(), texts.end(), marker);
      if (it != texts.end()) {
        vocab.eot = static_cast<int32_t>(it - texts.begin());
        break;
      }
    }
  }
  for (int32_t id : {vocab.eos, vocab.eot, eom}) {
    if (id != kNoToken && std::find(vocab.end_of_generation.begin(), vocab.end_of_generation.end(), id) ==
                              vocab.end_of_generation.end()) {
      vocab.end_of_generation.push_back(id);
    }
  }
  vocab.texts = std::move(texts);
  vocab.kinds = std::move(kinds);
  return vocab;
}

Status GgufVocabTokenizer::LoadGgufVocabulary(const GgufFile& gguf,
                                              const GgufVocabDefaults& defaults) {
  Result<GgufVocabulary> vocab = ReadGgufVocabulary(gguf, defaults);
  if (!vocab.ok()) return vocab.status();
  bos_ = vocab->bos;
  eos_ = vocab->eos;
  eot_ = vocab->eot;
  unk_ = vocab->unk;
  pad_ = vocab->pad;
  add_bos_ = vocab->add_bos;
  add_eos_ = vocab->add_eos;
  end_of_generation_ = std::move(vocab->end_of_generation);
  SetVocabulary(std::move(vocab->texts), std::move(vocab->kinds));
  return Status::OK();
}

}  // namespace engram::inference::internal
