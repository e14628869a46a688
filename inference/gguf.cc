#include "inference/gguf.h"

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstring>
#include <limits>

namespace engram::inference {
namespace {

constexpr uint32_t kMaxDims = 4;              // GGML_MAX_DIMS
constexpr uint64_t kDefaultAlignment = 32;    // GGUF_DEFAULT_ALIGNMENT
constexpr uint64_t kMaxAlignment = 1u << 20;  // far above any real file; stops silly padding
constexpr uint64_t kMaxNameBytes = 63;        // GGML_MAX_NAME - 1 (the C string terminator)

// Size in bytes of a fixed-size GGUF value type; 0 for string and array.
uint64_t FixedSize(GgufType type) {
  switch (type) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool:
      return 1;
    case GgufType::kUint16:
    case GgufType::kInt16:
      return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32:
      return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64:
      return 8;
    case GgufType::kString:
    case GgufType::kArray:
      return 0;
  }
  return 0;
}

bool IsKnownType(uint32_t id) { return id <= static_cast<uint32_t>(GgufType::kFloat64); }

bool IsInteger(GgufType t) {
  switch (t) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kUint16:
    case GgufType::kInt16:
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kBool:
      return true;
    default:
      return false;
  }
}

bool IsSigned(GgufType t) {
  return t == GgufType::kInt8 || t == GgufType::kInt16 || t == GgufType::kInt32 ||
         t == GgufType::kInt64;
}

// Reads a little-endian fixed-size value of `type` from `p`, sign- or zero-extended to 64
// bits (floats keep their raw bits).
uint64_t LoadBits(const uint8_t* p, GgufType type) {
  uint64_t bits = 0;
  const uint64_t n = FixedSize(type);
  std::memcpy(&bits, p, n);  // little-endian host (checked at compile time below)
  if (IsSigned(type) && n < 8) {
    const int shift = static_cast<int>(64 - 8 * n);
    bits = static_cast<uint64_t>(static_cast<int64_t>(bits << shift) >> shift);
  }
  return bits;
}
static_assert(std::endian::native == std::endian::little, "GGUF reader assumes little-endian");

double BitsToDouble(uint64_t bits, GgufType type) {
  if (type == GgufType::kFloat32) {
    float f;
    const auto b32 = static_cast<uint32_t>(bits);
    std::memcpy(&f, &b32, 4);
    return f;
  }
  if (type == GgufType::kFloat64) {
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
  }
  if (IsSigned(type)) return static_cast<double>(static_cast<int64_t>(bits));
  return static_cast<double>(bits);
}

Status TypeMismatch(std::string_view wanted, GgufType got) {
  return Status::InvalidArgument("gguf: expected " + std::string(wanted) + " value, found " +
                                 GgufTypeName(got));
}

}  // namespace

std::string GgufTypeName(GgufType type) {
  switch (type) {
    case GgufType::kUint8: return "u8";
    case GgufType::kInt8: return "i8";
    case GgufType::kUint16: return "u16";
    case GgufType::kInt16: return "i16";
    case GgufType::kUint32: return "u32";
    case GgufType::kInt32: return "i32";
    case GgufType::kFloat32: return "f32";
    case GgufType::kBool: return "bool";
    case GgufType::kString: return "string";
    case GgufType::kArray: return "array";
    case GgufType::kUint64: return "u64";
    case GgufType::kInt64: return "i64";
    case GgufType::kFloat64: return "f64";
  }
  return "type#" + std::to_string(static_cast<uint32_t>(type));
}

// ---- GgufValue ------------------------------------------------------------------------------

Result<uint64_t> GgufValue::AsUint64() const {
  if (!IsInteger(type_)) return TypeMismatch("an unsigned integer", type_);
  if (IsSigned(type_) && static_cast<int64_t>(scalar_bits_) < 0) {
    return Status::InvalidArgument("gguf: expected a non-negative integer, found " +
                                   std::to_string(static_cast<int64_t>(scalar_bits_)));
  }
  return scalar_bits_;
}

Result<int64_t> GgufValue::AsInt64() const {
  if (!IsInteger(type_)) return TypeMismatch("an integer", type_);
  if (type_ == GgufType::kUint64 &&
      scalar_bits_ > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return Status::InvalidArgument("gguf: integer " + std::to_string(scalar_bits_) +
                                   " does not fit in 64 signed bits");
  }
  return static_cast<int64_t>(scalar_bits_);
}

Result<double> GgufValue::AsDouble() const {
  if (!IsInteger(type_) && type_ != GgufType::kFloat32 && type_ != GgufType::kFloat64) {
    return TypeMismatch("a number", type_);
  }
  return BitsToDouble(scalar_bits_, type_);
}

Result<bool> GgufValue::AsBool() const {
  if (type_ != GgufType::kBool) return TypeMismatch("a bool", type_);
  return scalar_bits_ != 0;
}

Result<std::string_view> GgufValue::AsString() const {
  if (type_ != GgufType::kString) return TypeMismatch("a string", type_);
  return string_;
}

Result<std::vector<std::string_view>> GgufValue::AsStringArray() const {
  if (type_ == GgufType::kString) return std::vector<std::string_view>{string_};
  if (!is_array() || element_type_ != GgufType::kString) {
    return TypeMismatch("an array of strings", is_array() ? element_type_ : type_);
  }
  return strings_;
}

Result<double> GgufValue::ElementAsDouble(uint64_t i) const {
  return BitsToDouble(LoadBits(elements_ + i * FixedSize(element_type_), element_type_),
                      element_type_);
}

Result<int64_t> GgufValue::ElementAsInt64(uint64_t i) const {
  const uint64_t bits = LoadBits(elements_ + i * FixedSize(element_type_), element_type_);
  if (element_type_ == GgufType::kUint64 &&
      bits > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return Status::InvalidArgument("gguf: array element " + std::to_string(i) +
                                   " does not fit in 64 signed bits");
  }
  return static_cast<int64_t>(bits);
}

Result<std::vector<float>> GgufValue::AsFloatArray() const {
  if (!is_array()) {
    Result<double> d = AsDouble();
    if (!d.ok()) return d.status();
    return std::vector<float>{static_cast<float>(*d)};
  }
  const GgufType t = element_type_;
  if (!IsInteger(t) && t != GgufType::kFloat32 && t != GgufType::kFloat64) {
    return TypeMismatch("an array of numbers", t);
  }
  std::vector<float> out(count_);
  for (uint64_t i = 0; i < count_; ++i) out[i] = static_cast<float>(*ElementAsDouble(i));
  return out;
}

Result<std::vector<int64_t>> GgufValue::AsIntArray() const {
  if (!is_array()) {
    Result<int64_t> v = AsInt64();
    if (!v.ok()) return v.status();
    return std::vector<int64_t>{*v};
  }
  if (!IsInteger(element_type_)) return TypeMismatch("an array of integers", element_type_);
  std::vector<int64_t> out(count_);
  for (uint64_t i = 0; i < count_; ++i) {
    Result<int64_t> v = ElementAsInt64(i);
    if (!v.ok()) return v.status();
    out[i] = *v;
  }
  return out;
}

namespace {

std::string QuoteCut(std::string_view s, size_t max_chars) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < max_chars; ++i) {
    const char c = s[i];
    if (c == '\n') {
      out += "\\n";
    } else if (c == '"') {
      out += "\\\"";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += '?';
    } else {
      out += c;
    }
  }
  out += s.size() > max_chars ? "\"…" : "\"";
  return out;
}

std::string FormatNumber(double value, GgufType type) {
  if (IsInteger(type) && type != GgufType::kBool) {
    char buf[32];
    if (IsSigned(type)) {
      std::snprintf(buf, sizeof buf, "%" PRId64, static_cast<int64_t>(value));
    } else {
      std::snprintf(buf, sizeof buf, "%.0f", value);
    }
    return buf;
  }
  if (type == GgufType::kBool) return value != 0 ? "true" : "false";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", value);
  return buf;
}

}  // namespace

std::string GgufValue::ToDisplayString(size_t max_chars) const {
  if (type_ == GgufType::kString) return QuoteCut(string_, max_chars);
  if (!is_array()) {
    if (type_ == GgufType::kUint64) return std::to_string(scalar_bits_);
    if (type_ == GgufType::kInt64) return std::to_string(static_cast<int64_t>(scalar_bits_));
    return FormatNumber(BitsToDouble(scalar_bits_, type_), type_);
  }
  std::string out = "[" + GgufTypeName(element_type_) + " x " + std::to_string(count_) + "]";
  for (uint64_t i = 0; i < count_ && out.size() < max_chars; ++i) {
    out += i == 0 ? " " : ", ";
    if (element_type_ == GgufType::kString) {
      out += QuoteCut(strings_[i], 24);
    } else {
      out += FormatNumber(*ElementAsDouble(i), element_type_);
    }
    if (i + 1 < count_ && out.size() >= max_chars) out += ", …";
  }
  return out;
}

// ---- GgufTensor -----------------------------------------------------------------------------

int64_t GgufTensor::Elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // validated not to overflow at parse time
  return n;
}

int64_t GgufTensor::Rows() const { return shape.empty() ? 1 : Elements() / shape[0]; }

// ---- parsing --------------------------------------------------------------------------------

// Walks the bytes front to back. Every read checks the remaining length first; every error
// names the field and the offset it starts at.
class GgufParser {
 public:
  GgufParser(std::span<const uint8_t> bytes, GgufFile& file) : bytes_(bytes), file_(file) {}

  Status Run() {
    Status s = ReadHeader();
    if (!s.ok()) return s;
    for (uint64_t i = 0; i < kv_count_; ++i) {
      s = ReadMetadataEntry(i);
      if (!s.ok()) return s;
    }
    s = ReadAlignment();
    if (!s.ok()) return s;
    for (uint64_t i = 0; i < tensor_count_; ++i) {
      s = ReadTensorInfo(i);
      if (!s.ok()) return s;
    }
    return PlaceTensorData();
  }

 private:
  uint64_t Remaining() const { return bytes_.size() - pos_; }

  Status Error(std::string_view what, uint64_t at) const {
    return Status::Corruption("gguf: " + std::string(what) + " (offset " + std::to_string(at) +
                              ", file '" + file_.name_ + "')");
  }

  // Reads a fixed-size little-endian integer of type T.
  template <typename T>
  Status Read(T& out, std::string_view field) {
    if (Remaining() < sizeof(T)) {
      return Error("file ends inside " + std::string(field) + " (truncated)", pos_);
    }
    std::memcpy(&out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::OK();
  }

  Status ReadString(std::string_view& out, std::string_view field) {
    const uint64_t at = pos_;
    uint64_t length = 0;
    Status s = Read(length, field);
    if (!s.ok()) return s;
    if (length > Remaining()) {
      return Error(std::string(field) + " length " + std::to_string(length) +
                       " exceeds the " + std::to_string(Remaining()) + " bytes left in the file",
                   at);
    }
    out = std::string_view(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
    pos_ += length;
    return Status::OK();
  }

  Status ReadHeader() {
    if (bytes_.size() < 4 || std::memcmp(bytes_.data(), "GGUF", 4) != 0) {
      return Status::InvalidArgument("gguf: '" + file_.name_ +
                                     "' is not a GGUF file (it does not start with \"GGUF\")");
    }
    pos_ = 4;
    uint32_t version = 0;
    Status s = Read(version, "the version");
    if (!s.ok()) return s;
    if (version == 1) {
      return Status::NotSupported("gguf: '" + file_.name_ +
                                  "' is GGUF v1, which is no longer supported; re-convert it "
                                  "with a current llama.cpp");
    }
    if ((version & 0xFFFF) == 0 && version != 0) {
      return Status::NotSupported("gguf: '" + file_.name_ +
                                  "' looks big-endian (version field " +
                                  std::to_string(version) + "); only little-endian is supported");
    }
    if (version != 2 && version != 3) {
      return Status::NotSupported("gguf: '" + file_.name_ + "' has version " +
                                  std::to_string(version) + "; supported versions are 2 and 3");
    }
    file_.version_ = version;
    const uint64_t counts_at = pos_;
    s = Read(tensor_count_, "the tensor count");
    if (!s.ok()) return s;
    s = Read(kv_count_, "the metadata count");
    if (!s.ok()) return s;
    // Every metadata entry takes at least 13 bytes (key length, one key byte, type, one
    // value byte) and every tensor info at least 25, so larger counts cannot be real; checking
    // before reserving keeps a hostile count from allocating.
    if (kv_count_ > Remaining() / 13) {
      return Error("metadata count " + std::to_string(kv_count_) + " is impossible for a " +
                       std::to_string(bytes_.size()) + "-byte file",
                   counts_at + 8);
    }
    if (tensor_count_ > Remaining() / 25) {
      return Error("tensor count " + std::to_string(tensor_count_) + " is impossible for a " +
                       std::to_string(bytes_.size()) + "-byte file",
                   counts_at);
    }
    file_.metadata_.reserve(kv_count_);
    file_.tensors_.reserve(tensor_count_);
    return Status::OK();
  }

  Status ReadValueType(GgufType& out, std::string_view key) {
    const uint64_t at = pos_;
    uint32_t id = 0;
    Status s = Read(id, "the value type of '" + std::string(key) + "'");
    if (!s.ok()) return s;
    if (!IsKnownType(id)) {
      return Error("metadata '" + std::string(key) + "' has unknown value type " +
                       std::to_string(id),
                   at);
    }
    out = static_cast<GgufType>(id);
    return Status::OK();
  }

  Status ReadMetadataEntry(uint64_t index) {
    const uint64_t at = pos_;
    std::string_view key;
    Status s = ReadString(key, "metadata key #" + std::to_string(index));
    if (!s.ok()) return s;
    if (key.empty()) return Error("metadata key #" + std::to_string(index) + " is empty", at);
    if (file_.metadata_index_.count(key) != 0) {
      return Error("duplicate metadata key '" + std::string(key) + "'", at);
    }
    GgufValue value;
    s = ReadValueType(value.type_, key);
    if (!s.ok()) return s;
    s = ReadValue(value, key);
    if (!s.ok()) return s;
    file_.metadata_index_.emplace(key, file_.metadata_.size());
    file_.metadata_.push_back({key, std::move(value)});
    return Status::OK();
  }

  Status ReadValue(GgufValue& value, std::string_view key) {
    const uint64_t at = pos_;
    const std::string field = "the value of '" + std::string(key) + "'";
    if (value.type_ == GgufType::kString) return ReadString(value.string_, field);
    if (value.type_ != GgufType::kArray) {
      const uint64_t n = FixedSize(value.type_);
      if (Remaining() < n) return Error("file ends inside " + field + " (truncated)", at);
      value.scalar_bits_ = LoadBits(bytes_.data() + pos_, value.type_);
      pos_ += n;
      return Status::OK();
    }
    Status s = ReadValueType(value.element_type_, key);
    if (!s.ok()) return s;
    if (value.element_type_ == GgufType::kArray) {
      return Error("metadata '" + std::string(key) + "' is an array of arrays (not supported)",
                   at);
    }
    const uint64_t count_at = pos_;
    s = Read(value.count_, "the array length of '" + std::string(key) + "'");
    if (!s.ok()) return s;
    const uint64_t element_size = value.element_type_ == GgufType::kString
                                      ? 8  // at least the length field
                                      : FixedSize(value.element_type_);
    if (value.count_ > Remaining() / element_size) {
      return Error("array '" + std::string(key) + "' claims " + std::to_string(value.count_) +
                       " elements of " + GgufTypeName(value.element_type_) + ", more than the " +
                       std::to_string(Remaining()) + " bytes left in the file",
                   count_at);
    }
    if (value.element_type_ != GgufType::kString) {
      value.elements_ = bytes_.data() + pos_;
      pos_ += value.count_ * element_size;
      return Status::OK();
    }
    value.strings_.resize(value.count_);
    for (uint64_t i = 0; i < value.count_; ++i) {
      s = ReadString(value.strings_[i],
                     "element " + std::to_string(i) + " of '" + std::string(key) + "'");
      if (!s.ok()) return s;
    }
    return Status::OK();
  }

  Status ReadAlignment() {
    const GgufValue* v = file_.Find("general.alignment");
    if (v == nullptr) {
      file_.alignment_ = kDefaultAlignment;
      return Status::OK();
    }
    Result<uint64_t> a = v->type() == GgufType::kUint32
                             ? v->AsUint64()
                             : Result<uint64_t>(Status::InvalidArgument("not u32"));
    if (!a.ok() || *a == 0 || !std::has_single_bit(*a) || *a > kMaxAlignment) {
      return Error("general.alignment must be a u32 power of two up to " +
                       std::to_string(kMaxAlignment) + ", found " + v->ToDisplayString(),
                   0);
    }
    file_.alignment_ = *a;
    return Status::OK();
  }

  Status ReadTensorInfo(uint64_t index) {
    const uint64_t at = pos_;
    GgufTensor t;
    Status s = ReadString(t.name, "the name of tensor #" + std::to_string(index));
    if (!s.ok()) return s;
    const std::string label = "tensor '" + std::string(t.name) + "'";
    if (t.name.empty()) return Error("tensor #" + std::to_string(index) + " has no name", at);
    if (t.name.size() > kMaxNameBytes) {
      return Error(label + " has a name longer than " + std::to_string(kMaxNameBytes) + " bytes",
                   at);
    }
    if (file_.tensor_index_.count(t.name) != 0) return Error("duplicate " + label, at);

    uint32_t n_dims = 0;
    const uint64_t dims_at = pos_;
    s = Read(n_dims, "the dimension count of " + label);
    if (!s.ok()) return s;
    if (n_dims == 0 || n_dims > kMaxDims) {
      return Error(label + " has " + std::to_string(n_dims) + " dimensions (allowed: 1 to " +
                       std::to_string(kMaxDims) + ")",
                   dims_at);
    }
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t dim = 0;
      const uint64_t dim_at = pos_;
      s = Read(dim, "a dimension of " + label);
      if (!s.ok()) return s;
      if (dim == 0 || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / dim) {
        return Error(label + " has an invalid dimension " + std::to_string(dim) +
                         " (zero, or the element count overflows)",
                     dim_at);
      }
      elements *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }

    uint32_t type_id = 0;
    const uint64_t type_at = pos_;
    s = Read(type_id, "the type of " + label);
    if (!s.ok()) return s;
    const TensorTypeInfo* info = FindTensorType(type_id);
    if (info == nullptr) {
      return Error(label + " has unknown tensor type id " + std::to_string(type_id), type_at);
    }
    t.type = info->type;
    if (t.shape[0] % info->block_elems != 0) {
      return Error(label + " has rows of " + std::to_string(t.shape[0]) + " elements, not a " +
                       "multiple of the " + std::string(info->name) + " block size " +
                       std::to_string(info->block_elems),
                   type_at);
    }
    const uint64_t blocks = elements / static_cast<uint64_t>(info->block_elems);
    if (blocks > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(info->block_bytes)) {
      return Error(label + " is larger than 2^64 bytes", type_at);
    }
    t.bytes = blocks * static_cast<uint64_t>(info->block_bytes);

    const uint64_t offset_at = pos_;
    s = Read(t.offset, "the data offset of " + label);
    if (!s.ok()) return s;
    offset_positions_.push_back(offset_at);
    file_.tensor_index_.emplace(t.name, file_.tensors_.size());
    file_.tensors_.push_back(std::move(t));
    return Status::OK();
  }

  Status PlaceTensorData() {
    // The data section starts at the next multiple of the alignment after the infos.
    const uint64_t a = file_.alignment_;
    const uint64_t data_start = (pos_ + a - 1) / a * a;  // pos_ <= size, a <= 2^20: no overflow
    file_.data_offset_ = data_start;
    if (file_.tensors_.empty()) return Status::OK();
    if (data_start > bytes_.size()) {
      return Error("file ends before its tensor data section starts", bytes_.size());
    }
    const uint64_t data_bytes = bytes_.size() - data_start;
    for (size_t i = 0; i < file_.tensors_.size(); ++i) {
      GgufTensor& t = file_.tensors_[i];
      const std::string label = "tensor '" + std::string(t.name) + "'";
      if (t.offset % a != 0) {
        return Error(label + " data offset " + std::to_string(t.offset) +
                         " is not a multiple of the alignment " + std::to_string(a),
                     offset_positions_[i]);
      }
      if (t.offset > data_bytes || t.bytes > data_bytes - t.offset) {
        return Error(label + " extends past end of file (data offset " +
                         std::to_string(t.offset) + " + " + std::to_string(t.bytes) +
                         " bytes > " + std::to_string(data_bytes) + " bytes of data)",
                     offset_positions_[i]);
      }
      t.file_offset = data_start + t.offset;
      t.data = bytes_.data() + t.file_offset;
    }
    // Tensors must not overlap: a writer bug or a hostile file could alias two weights.
    std::vector<size_t> order(file_.tensors_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t x, size_t y) {
      return file_.tensors_[x].offset < file_.tensors_[y].offset;
    });
    for (size_t k = 1; k < order.size(); ++k) {
      const GgufTensor& prev = file_.tensors_[order[k - 1]];
      const GgufTensor& cur = file_.tensors_[order[k]];
      if (prev.bytes > 0 && prev.offset + prev.bytes > cur.offset) {
        return Error("tensor '" + std::string(cur.name) + "' overlaps tensor '" +
                         std::string(prev.name) + "'",
                     offset_positions_[order[k]]);
      }
    }
    return Status::OK();
  }

  std::span<const uint8_t> bytes_;
  GgufFile& file_;
  uint64_t pos_ = 0;
  uint64_t tensor_count_ = 0;
  uint64_t kv_count_ = 0;
  std::vector<uint64_t> offset_positions_;  // where each tensor's offset field sits
};

// ---- GgufFile -------------------------------------------------------------------------------

Result<std::unique_ptr<GgufFile>> GgufFile::Parse(std::span<const uint8_t> bytes,
                                                  std::string name) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->bytes_ = bytes;
  file->name_ = std::move(name);
  Status s = GgufParser(bytes, *file).Run();
  if (!s.ok()) return s;
  return file;
}

Result<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  Result<std::unique_ptr<MmapFile>> mapping = MmapFile::Open(path);
  if (!mapping.ok()) return mapping.status().WithContext("gguf");
  Result<std::unique_ptr<GgufFile>> file = Parse((*mapping)->bytes(), path);
  if (!file.ok()) return file.status();
  (*file)->mapping_ = std::move(*mapping);
  return file;
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].value;
}

namespace {
template <typename T, typename Get>
Result<T> Lookup(const GgufFile& file, std::string_view key, Get get) {
  const GgufValue* v = file.Find(key);
  if (v == nullptr) {
    return Status::NotFound("gguf: '" + file.path() + "' has no metadata key '" +
                            std::string(key) + "'");
  }
  Result<T> r = get(*v);
  if (!r.ok()) return r.status().WithContext("'" + std::string(key) + "'");
  return r;
}
}  // namespace

Result<std::string_view> GgufFile::GetString(std::string_view key) const {
  return Lookup<std::string_view>(*this, key, [](const GgufValue& v) { return v.AsString(); });
}
Result<uint64_t> GgufFile::GetUint64(std::string_view key) const {
  return Lookup<uint64_t>(*this, key, [](const GgufValue& v) { return v.AsUint64(); });
}
Result<double> GgufFile::GetDouble(std::string_view key) const {
  return Lookup<double>(*this, key, [](const GgufValue& v) { return v.AsDouble(); });
}
Result<bool> GgufFile::GetBool(std::string_view key) const {
  return Lookup<bool>(*this, key, [](const GgufValue& v) { return v.AsBool(); });
}

Result<std::string_view> GgufFile::Architecture() const {
  Result<std::string_view> arch = GetString("general.architecture");
  if (!arch.ok()) {
    return Status::InvalidArgument("gguf: '" + name_ +
                                   "' does not name its architecture (general.architecture)");
  }
  return arch;
}

const GgufTensor* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace engram::inference
