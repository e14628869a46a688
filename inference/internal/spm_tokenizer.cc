#include "inference/internal/spm_tokenizer.h"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/input_file.h"
#include "inference/internal/gguf_vocab.h"
#include "inference/internal/unicode.h"

namespace engram::inference::internal {
namespace {

// ---- protobuf wire format (just what a ModelProto needs) ------------------------------------

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void PutTag(std::string& out, uint32_t field, uint32_t wire_type) {
  PutVarint(out, (static_cast<uint64_t>(field) << 3) | wire_type);
}
void PutInt(std::string& out, uint32_t field, int64_t v) {  // int32/enum/bool: varint
  PutTag(out, field, 0);
  PutVarint(out, static_cast<uint64_t>(v));  // negative ints take 10 bytes, as protobuf does
}
void PutFloat(std::string& out, uint32_t field, float v) {
  PutTag(out, field, 5);
  char bytes[4];
  std::memcpy(bytes, &v, 4);
  out.append(bytes, 4);
}
void PutBytes(std::string& out, uint32_t field, std::string_view v) {
  PutTag(out, field, 2);
  PutVarint(out, v.size());
  out.append(v);
}

// Field numbers from sentencepiece_model.proto.
namespace model_proto {
constexpr uint32_t kPieces = 1, kTrainerSpec = 2, kNormalizerSpec = 3;
}
namespace piece_proto {
constexpr uint32_t kPiece = 1, kScore = 2, kType = 3;
}
namespace trainer_proto {
constexpr uint32_t kModelType = 3, kVocabSize = 4, kByteFallback = 35, kUnkId = 40, kBosId = 41,
                   kEosId = 42, kPadId = 43;
constexpr int kModelTypeBpe = 2;
}  // namespace trainer_proto
namespace normalizer_proto {
constexpr uint32_t kName = 1, kAddDummyPrefix = 3, kRemoveExtraWhitespaces = 4,
                   kEscapeWhitespaces = 5;
}

std::string StatusText(const sentencepiece::util::Status& s) { return s.ToString(); }

// The bytes a piece stands for: "▁" is a space, "<0x41>" is byte 0x41.
std::string PieceBytes(std::string_view piece, TokenKind kind) {
  if (kind == TokenKind::kByte && piece.size() == 6 && piece.substr(0, 3) == "<0x" &&
      piece[5] == '>') {
    return std::string(1, static_cast<char>(std::stoi(std::string(piece.substr(3, 2)),
                                                      nullptr, 16)));
  }
  std::string out;
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, 3, "\xE2\x96\x81") == 0) {
      out.push_back(' ');
      i += 3;
    } else {
      out.push_back(piece[i++]);
    }
  }
  return out;
}

class SpmTokenizer final : public Tokenizer {
 public:
  Status Init(std::unique_ptr<sentencepiece::SentencePieceProcessor> processor) {
    processor_ = std::move(processor);
    const int n = processor_->GetPieceSize();
    std::vector<std::string> texts(n);
    std::vector<TokenKind> kinds(n, TokenKind::kNormal);
    for (int i = 0; i < n; ++i) {
      texts[i] = processor_->IdToPiece(i);
      if (processor_->IsUnknown(i)) kinds[i] = TokenKind::kUnknown;
      else if (processor_->IsControl(i)) kinds[i] = TokenKind::kControl;
      else if (processor_->IsByte(i)) kinds[i] = TokenKind::kByte;
      else if (processor_->IsUnused(i)) kinds[i] = TokenKind::kUnused;
    }
    SetVocabulary(std::move(texts), std::move(kinds));
    auto id_or_none = [n](int id) { return id >= 0 && id < n ? id : kNoToken; };
    unk_ = id_or_none(processor_->unk_id());
    bos_ = id_or_none(processor_->bos_id());
    eos_ = id_or_none(processor_->eos_id());
    pad_ = id_or_none(processor_->pad_id());
    add_bos_ = true;  // SentencePiece llama vocabularies (llama.cpp's default)
    if (eos_ != kNoToken) end_of_generation_.push_back(eos_);
    return Status::OK();
  }

  // The GGUF file's own token kinds, special ids and rules, which the SentencePiece model cannot
  // carry, and llama.cpp's rules for the text around the library (see EncodeRaw, Decode).
  void AdoptGguf(const GgufVocabulary& vocab, bool add_space_prefix) {
    llama_cpp_rules_ = true;
    add_space_prefix_ = add_space_prefix;
    // The file's kinds, not the library's: user-defined tokens (Gemma's whitespace runs, "<b>")
    // must be split out before the library runs, as llama.cpp does; the file may type <unk> as
    // a control token.
    SetVocabulary(vocab.texts, vocab.kinds);
    unk_ = vocab.unk;
    bos_ = vocab.bos;
    eos_ = vocab.eos;
    eot_ = vocab.eot;
    pad_ = vocab.pad;
    add_bos_ = vocab.add_bos;
    add_eos_ = vocab.add_eos;
    end_of_generation_ = vocab.end_of_generation;
  }

  std::vector<int32_t> Encode(std::string_view text, const EncodeOptions& options) const override {
    std::vector<int32_t> out;
    if (options.add_special && add_bos_ && bos_ != kNoToken) out.push_back(bos_);
    for (const Fragment& f : SplitSpecial(text, options.parse_special)) {
      if (f.id != kNoToken) {
        out.push_back(f.id);
        continue;
      }
      if (llama_cpp_rules_) {
        EncodeRaw(f.text, out);
      } else {
        EncodeLibrary(f.text, out);
      }
    }
    if (options.add_special && add_eos_ && eos_ != kNoToken) out.push_back(eos_);
    return out;
  }

  std::string Decode(std::span<const int32_t> ids, const DecodeOptions& options) const override {
    if (llama_cpp_rules_) return DecodeConcatenated(ids, options);
    std::string text;
    std::vector<int> run;
    auto flush = [&] {
      if (run.empty()) return;
      std::string part;
      processor_->Decode(run, &part).IgnoreError();
      // The library drops the dummy-prefix space only at the very start of its input.
      if (!text.empty() && !run.empty() && TokenText(run.front()).rfind("\xE2\x96\x81", 0) == 0 &&
          (part.empty() || part[0] != ' ')) {
        part.insert(part.begin(), ' ');
      }
      text += part;
      run.clear();
    };
    for (int32_t id : ids) {
      if (id < 0 || id >= VocabSize()) continue;
      if (options.render_special && Kind(id) == TokenKind::kControl) {
        flush();
        text += TokenText(id);
        continue;
      }
      run.push_back(id);
    }
    flush();
    return text;
  }

  std::string TokenToPiece(int32_t id, bool render_special) const override {
    switch (Kind(id)) {
      case TokenKind::kNormal:
      case TokenKind::kUserDefined:
      case TokenKind::kByte:
        return PieceBytes(TokenText(id), Kind(id));
      case TokenKind::kUnknown:
        return render_special ? std::string(TokenText(id)) : " \xE2\x81\x87 ";  // " ⁇ "
      case TokenKind::kControl:
        return render_special ? std::string(TokenText(id)) : std::string();
      default:
        return {};
    }
  }

  std::string_view Family() const override { return "spm"; }

 private:
  void EncodeLibrary(std::string_view text, std::vector<int32_t>& out) const {
    std::vector<int> ids;
    // The library only fails on an unloaded model, which Init rules out.
    processor_->Encode(text, &ids).IgnoreError();
    out.insert(out.end(), ids.begin(), ids.end());
  }

  // A raw fragment as llama.cpp's SentencePiece session tokenizes it: a space in front when
  // add_space_prefix (the library model is built without a dummy prefix, so this happens once
  // per fragment, not once per piece handed to the library), spaces escaped to U+2581, then
  // "characters" cut by UTF-8 lead-byte length alone and merged by score. No vocabulary entry
  // is ill-formed UTF-8, so no merge crosses an ill-formed character: the well-formed runs
  // between them go to the library (the same merges), and each ill-formed character becomes
  // its byte tokens, llama.cpp's fallback for a symbol outside the vocabulary. (The library
  // alone would first turn ill-formed bytes into U+FFFD.) llama.cpp cuts characters AFTER
  // escaping, so "\xE9 au" is "\xE9\xE2\x96" + "\x81" + "au": four byte tokens and "au".
  void EncodeRaw(std::string_view fragment, std::vector<int32_t>& out) const {
    if (!add_space_prefix_ && IsWellFormedUtf8(fragment)) return EncodeLibrary(fragment, out);
    std::string text = add_space_prefix_ ? "\xE2\x96\x81" : "";
    text.reserve(fragment.size() + 3);
    for (char c : fragment) {
      if (c == ' ') {
        text += "\xE2\x96\x81";
      } else {
        text.push_back(c);
      }
    }
    // A literal U+2581 reaches the library as it is; it escapes spaces to the same symbol.
    if (IsWellFormedUtf8(text)) return EncodeLibrary(text, out);
    const std::string_view escaped = text;
    size_t run = 0;  // start of the current well-formed run
    for (size_t at = 0; at < escaped.size();) {
      const size_t n = std::min(internal::Utf8SequenceLength(escaped[at]), escaped.size() - at);
      const std::string_view ch = escaped.substr(at, n);
      if (static_cast<unsigned char>(ch[0]) >= 0x80 && !IsWellFormedUtf8(ch)) {
        if (at > run) EncodeLibrary(escaped.substr(run, at - run), out);
        AppendByteTokens(ch, out);
        run = at + n;
      }
      at += n;
    }
    if (run < escaped.size()) EncodeLibrary(escaped.substr(run), out);
  }

  static bool IsWellFormedUtf8(std::string_view text) {
    for (char c : text) {
      if (static_cast<unsigned char>(c) >= 0x80) {
        return internal::EncodeUtf8(internal::DecodeUtf8Replace(text)) == text;
      }
    }
    return true;
  }

  // llama.cpp's byte_to_token: "<0xAB>", else the one-byte token, else <unk>.
  void AppendByteTokens(std::string_view bytes, std::vector<int32_t>& out) const {
    for (char c : bytes) {
      char name[8];
      std::snprintf(name, sizeof(name), "<0x%02X>", static_cast<unsigned char>(c));
      int32_t id = Find(name);
      if (id == kNoToken) id = Find(std::string_view(&c, 1));
      if (id == kNoToken) id = unk_;
      if (id != kNoToken) out.push_back(id);
    }
  }

  // llama.cpp's detokenizer: each token's bytes in order (byte tokens stay raw bytes), less the
  // space that add_space_prefix put in front of the first piece of text. Unlike llama.cpp, a
  // leading BOS that prints nothing does not use up that removal, so that
  // Decode(Encode(text, {.add_special = true})) is text, as it was through the library.
  std::string DecodeConcatenated(std::span<const int32_t> ids, const DecodeOptions& options) const {
    std::string text;
    bool first = true;
    for (int32_t id : ids) {
      std::string piece = TokenToPiece(id, options.render_special);
      if (piece.empty()) continue;
      if (first && add_space_prefix_ && piece[0] == ' ') piece.erase(0, 1);
      first = false;
      text += piece;
    }
    return text;
  }

  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  bool llama_cpp_rules_ = false;   // built from a GGUF vocabulary; llama.cpp is the reference
  bool add_space_prefix_ = false;  // tokenizer.ggml.add_space_prefix (llama_cpp_rules_ only)
};

}  // namespace

std::string SerializeSpmModel(const SpmModelSpec& spec) {
  std::string model;
  bool has_bytes = false;
  for (size_t i = 0; i < spec.pieces.size(); ++i) {
    std::string piece;
    PutBytes(piece, piece_proto::kPiece, spec.pieces[i]);
    PutFloat(piece, piece_proto::kScore, i < spec.scores.size() ? spec.scores[i] : 0.0f);
    TokenKind kind = i < spec.kinds.size() ? spec.kinds[i] : TokenKind::kNormal;
    if (kind == TokenKind::kUndefined) kind = TokenKind::kNormal;
    has_bytes |= kind == TokenKind::kByte;
    PutInt(piece, piece_proto::kType, static_cast<int32_t>(kind));
    PutBytes(model, model_proto::kPieces, piece);
  }
  std::string trainer;
  PutInt(trainer, trainer_proto::kModelType, trainer_proto::kModelTypeBpe);
  PutInt(trainer, trainer_proto::kVocabSize, static_cast<int64_t>(spec.pieces.size()));
  PutInt(trainer, trainer_proto::kByteFallback, has_bytes ? 1 : 0);
  PutInt(trainer, trainer_proto::kUnkId, spec.unk);
  PutInt(trainer, trainer_proto::kBosId, spec.bos);
  PutInt(trainer, trainer_proto::kEosId, spec.eos);
  PutInt(trainer, trainer_proto::kPadId, spec.pad);
  PutBytes(model, model_proto::kTrainerSpec, trainer);
  std::string normalizer;
  PutBytes(normalizer, normalizer_proto::kName, "identity");
  PutInt(normalizer, normalizer_proto::kAddDummyPrefix, spec.add_dummy_prefix ? 1 : 0);
  PutInt(normalizer, normalizer_proto::kRemoveExtraWhitespaces,
         spec.remove_extra_whitespaces ? 1 : 0);
  PutInt(normalizer, normalizer_proto::kEscapeWhitespaces, 1);
  PutBytes(model, model_proto::kNormalizerSpec, normalizer);
  return model;
}

Result<std::unique_ptr<Tokenizer>> MakeSpmTokenizerFromSpec(const SpmModelSpec& spec,
                                                            const std::string& origin) {
  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = processor->LoadFromSerializedProto(SerializeSpmModel(spec));
  if (!status.ok()) {
    return Status::InvalidArgument("tokenizer: the SentencePiece vocabulary of '" + origin +
                                   "' is not usable: " + StatusText(status));
  }
  auto tokenizer = std::make_unique<SpmTokenizer>();
  Status s = tokenizer->Init(std::move(processor));
  if (!s.ok()) return s;
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

Result<std::unique_ptr<Tokenizer>> MakeSpmTokenizerFromFile(const std::string& path) {
  // Read through the input layer (regular files only, bounded), then parsed from memory: the
  // library's own file reading would block on a FIFO and read /dev/zero without end.
  constexpr uint64_t kMaxModelBytes = uint64_t{256} << 20;
  Result<std::string> bytes = ReadFileBounded(path, kMaxModelBytes, "SentencePiece model");
  if (!bytes.ok()) return bytes.status().WithContext("tokenizer");
  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = processor->LoadFromSerializedProto(*bytes);
  if (!status.ok()) {
    return Status::InvalidArgument("tokenizer: '" + path +
                                   "' is not a SentencePiece model: " + StatusText(status));
  }
  auto tokenizer = std::make_unique<SpmTokenizer>();
  Status s = tokenizer->Init(std::move(processor));
  if (!s.ok()) return s;
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

Result<std::unique_ptr<Tokenizer>> MakeSpmTokenizerFromGguf(const GgufFile& gguf) {
  GgufVocabDefaults defaults;  // llama.cpp's for SentencePiece vocabularies
  defaults.bos = 1;
  defaults.eos = 2;
  defaults.unk = 0;
  defaults.add_bos = true;
  Result<GgufVocabulary> vocab = ReadGgufVocabulary(gguf, defaults);
  if (!vocab.ok()) return vocab.status();
  SpmModelSpec spec;
  spec.pieces = vocab->texts;
  spec.kinds = vocab->kinds;
  spec.scores = vocab->scores;
  spec.unk = vocab->unk;
  spec.bos = vocab->bos;
  spec.eos = vocab->eos;
  spec.pad = vocab->pad;
  // The library needs exactly one piece typed unknown, at unk; some files (Gemma 3) type
  // <unk> as a control token. The tokenizer itself keeps the file's kinds.
  for (TokenKind& kind : spec.kinds) {
    if (kind == TokenKind::kUnknown) kind = TokenKind::kControl;
  }
  if (spec.unk >= 0 && spec.unk < static_cast<int32_t>(spec.kinds.size())) {
    spec.kinds[spec.unk] = TokenKind::kUnknown;
  }
  // llama.cpp adds the prefix space itself (SpmTokenizer::EncodeRaw) and ignores
  // tokenizer.ggml.remove_extra_whitespaces for SentencePiece vocabularies, so the library
  // model gets neither.
  bool add_space_prefix = true;  // llama.cpp's default
  if (const GgufValue* v = gguf.Find("tokenizer.ggml.add_space_prefix")) {
    Result<bool> b = v->AsBool();
    if (!b.ok()) return b.status().WithContext("tokenizer: tokenizer.ggml.add_space_prefix");
    add_space_prefix = *b;
  }
  spec.add_dummy_prefix = false;
  spec.remove_extra_whitespaces = false;
  Result<std::unique_ptr<Tokenizer>> tokenizer = MakeSpmTokenizerFromSpec(spec, gguf.path());
  if (!tokenizer.ok()) return tokenizer.status();
  static_cast<SpmTokenizer&>(**tokenizer).AdoptGguf(*vocab, add_space_prefix);
  return tokenizer;
}

}  // namespace engram::inference::internal
