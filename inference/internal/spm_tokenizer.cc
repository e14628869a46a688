#include "inference/internal/spm_tokenizer.h"

#include <sentencepiece_processor.h>

#include <cstring>
#include <filesystem>

#include "common/input_file.h"
#include "inference/internal/gguf_vocab.h"

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

  // The GGUF file's own special ids and rules, which the SentencePiece model cannot carry.
  void AdoptSpecials(const GgufVocabulary& vocab) {
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
    std::vector<int> ids;
    for (const Fragment& f : SplitSpecial(text, options.parse_special)) {
      if (f.id != kNoToken) {
        out.push_back(f.id);
        continue;
      }
      ids.clear();
      // The library only fails on an unloaded model, which Init rules out.
      processor_->Encode(f.text, &ids).IgnoreError();
      out.insert(out.end(), ids.begin(), ids.end());
    }
    if (options.add_special && add_eos_ && eos_ != kNoToken) out.push_back(eos_);
    return out;
  }

  std::string Decode(std::span<const int32_t> ids, const DecodeOptions& options) const override {
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
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
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
  for (auto [key, flag] :
       {std::pair<std::string_view, bool*>{"tokenizer.ggml.add_space_prefix",
                                           &spec.add_dummy_prefix},
        {"tokenizer.ggml.remove_extra_whitespaces", &spec.remove_extra_whitespaces}}) {
    if (const GgufValue* v = gguf.Find(key)) {
      Result<bool> b = v->AsBool();
      if (!b.ok()) return b.status().WithContext("tokenizer: " + std::string(key));
      *flag = *b;
    }
  }
  Result<std::unique_ptr<Tokenizer>> tokenizer = MakeSpmTokenizerFromSpec(spec, gguf.path());
  if (!tokenizer.ok()) return tokenizer.status();
  static_cast<SpmTokenizer&>(**tokenizer).AdoptSpecials(*vocab);
  return tokenizer;
}

}  // namespace engram::inference::internal
