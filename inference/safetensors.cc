#include "inference/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "common/json_write.h"

namespace engram::inference {
namespace {

using json = nlohmann::json;

// Headers of real models are tens of kilobytes; this bounds what a hostile length can make us
// parse.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct DtypeInfo {
  const char* name;
  SafetensorsDtype dtype;
  size_t size;
};

constexpr DtypeInfo kDtypes[] = {
    {"BOOL", SafetensorsDtype::kBool, 1}, {"U8", SafetensorsDtype::kU8, 1},
    {"I8", SafetensorsDtype::kI8, 1},     {"I16", SafetensorsDtype::kI16, 2},
    {"U16", SafetensorsDtype::kU16, 2},   {"F16", SafetensorsDtype::kF16, 2},
    {"BF16", SafetensorsDtype::kBF16, 2}, {"I32", SafetensorsDtype::kI32, 4},
    {"U32", SafetensorsDtype::kU32, 4},   {"F32", SafetensorsDtype::kF32, 4},
    {"F64", SafetensorsDtype::kF64, 8},   {"I64", SafetensorsDtype::kI64, 8},
    {"U64", SafetensorsDtype::kU64, 8},
};

Status Corrupt(const std::string& file, const std::string& what) {
  return Status::Corruption("safetensors: " + what + " (file '" + file + "')");
}

}  // namespace

std::string_view SafetensorsDtypeName(SafetensorsDtype dtype) {
  for (const DtypeInfo& d : kDtypes) {
    if (d.dtype == dtype) return d.name;
  }
  return "?";
}

size_t SafetensorsDtypeSize(SafetensorsDtype dtype) {
  for (const DtypeInfo& d : kDtypes) {
    if (d.dtype == dtype) return d.size;
  }
  return 0;
}

int64_t SafetensorsTensor::Elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  Result<std::unique_ptr<MmapFile>> mapping = MmapFile::Open(path);
  if (!mapping.ok()) return mapping.status();
  Result<std::unique_ptr<SafetensorsFile>> file = Parse((*mapping)->bytes(), path);
  if (!file.ok()) return file.status();
  (*file)->mapping_ = std::move(*mapping);
  return file;
}

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Parse(std::span<const uint8_t> bytes,
                                                                std::string name) {
  if (bytes.size() < 8) {
    return Corrupt(name, "file of " + std::to_string(bytes.size()) +
                             " bytes is too short for the 8-byte header length");
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | bytes[i];  // little-endian
  if (header_len > bytes.size() - 8 || header_len > kMaxHeaderBytes) {
    return Corrupt(name, "header length " + std::to_string(header_len) +
                             " exceeds the file (" + std::to_string(bytes.size()) + " bytes)");
  }
  const auto* header_begin = reinterpret_cast<const char*>(bytes.data() + 8);
  json header = json::parse(header_begin, header_begin + header_len, nullptr,
                            /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) {
    return Corrupt(name, "the header is not a JSON object");
  }
  const std::span<const uint8_t> data = bytes.subspan(8 + header_len);
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->name_ = std::move(name);
  const std::string& fname = file->name_;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) return Corrupt(fname, "__metadata__ is not an object");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) return Corrupt(fname, "__metadata__ value '" + k + "' is not a string");
        file->metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + key + "'";
    if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") ||
        !value.contains("data_offsets")) {
      return Corrupt(fname, where + " needs dtype, shape and data_offsets");
    }
    SafetensorsTensor t;
    t.name = key;
    const json& dtype = value["dtype"];
    const DtypeInfo* info = nullptr;
    if (dtype.is_string()) {
      for (const DtypeInfo& d : kDtypes) {
        if (dtype.get<std::string>() == d.name) info = &d;
      }
    }
    if (info == nullptr) {
      return Status::NotSupported("safetensors: " + where + " has unsupported dtype " +
                                  JsonText(dtype) + " (file '" + fname + "')");
    }
    t.dtype = info->dtype;
    const json& shape = value["shape"];
    if (!shape.is_array()) return Corrupt(fname, where + " shape is not an array");
    // Element count with overflow checks: each dimension and the product stay below 2^62.
    uint64_t elements = 1;
    for (const json& d : shape) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) {
        return Corrupt(fname, where + " has a negative or non-integer dimension");
      }
      const uint64_t dim = d.get<uint64_t>();
      if (dim != 0 && elements > (uint64_t{1} << 62) / dim) {
        return Corrupt(fname, where + " shape " + JsonText(shape) + " is too large");
      }
      elements *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    const json& offsets = value["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned()) {
      return Corrupt(fname, where + " data_offsets must be two non-negative integers");
    }
    const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    if (begin > end || end > data.size()) {
      return Corrupt(fname, where + " data_offsets [" + std::to_string(begin) + ", " +
                                std::to_string(end) + "] fall outside the " +
                                std::to_string(data.size()) + " bytes of data");
    }
    // (elements is checked against the data size first so the product cannot overflow)
    if (elements > data.size() / info->size || end - begin != elements * info->size) {
      return Corrupt(fname, where + " has " + std::to_string(end - begin) + " bytes but shape " +
                                JsonText(shape) + " of " + info->name + " needs " +
                                std::to_string(elements) + " elements");
    }
    t.data = data.data() + begin;
    t.bytes = end - begin;
    file->tensors_.push_back(std::move(t));
  }
  std::sort(file->tensors_.begin(), file->tensors_.end(),
            [](const SafetensorsTensor& a, const SafetensorsTensor& b) { return a.data < b.data; });
  for (size_t i = 1; i < file->tensors_.size(); ++i) {
    const SafetensorsTensor& prev = file->tensors_[i - 1];
    if (prev.data + prev.bytes > file->tensors_[i].data) {
      return Corrupt(fname, "tensors '" + prev.name + "' and '" + file->tensors_[i].name +
                                "' overlap");
    }
  }
  return file;
}

const SafetensorsTensor* SafetensorsFile::Find(std::string_view name) const {
  for (const SafetensorsTensor& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace engram::inference
