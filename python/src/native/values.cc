#include "values.h"

#include <nanobind/ndarray.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstdio>
#include <cstring>

#include "common/utc_time.h"
#include "errors.h"

namespace nb = nanobind;

namespace engram::python {
namespace {

using AnyArray = nb::ndarray<nb::ro, nb::device::cpu>;

std::string DtypeName(nb::dlpack::dtype t) {
  const char* kind = "dtype";
  switch (static_cast<nb::dlpack::dtype_code>(t.code)) {
    case nb::dlpack::dtype_code::Int:
      kind = "int";
      break;
    case nb::dlpack::dtype_code::UInt:
      kind = "uint";
      break;
    case nb::dlpack::dtype_code::Float:
      kind = "float";
      break;
    case nb::dlpack::dtype_code::Bfloat:
      kind = "bfloat";
      break;
    case nb::dlpack::dtype_code::Complex:
      kind = "complex";
      break;
    case nb::dlpack::dtype_code::Bool:
      return "bool";
  }
  return kind + std::to_string(t.bits);
}

std::string ShapeText(const AnyArray& a) {
  std::string s = "(";
  for (size_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

bool CContiguous(const AnyArray& a) {
  int64_t expected = 1;
  for (size_t i = a.ndim(); i-- > 0;) {
    if (a.shape(i) != 1 && a.stride(i) != expected) return false;
    expected *= static_cast<int64_t>(a.shape(i));
  }
  return true;
}

// The array behind `obj`, or TypeError naming what was given instead.
AnyArray CheckedArray(nb::handle obj, const char* what) {
  AnyArray a;
  if (!nb::try_cast(obj, a, /*convert=*/false)) {
    throw nb::type_error((std::string(what) + " must be a numpy.ndarray of float32, not " +
                          nb::type_name(obj.type()).c_str())
                             .c_str());
  }
  if (a.dtype() != nb::dtype<float>()) {
    throw nb::type_error((std::string(what) + " must have dtype float32, not " +
                          DtypeName(a.dtype()) + " (convert with .astype(numpy.float32))")
                             .c_str());
  }
  if (!CContiguous(a)) {
    throw nb::type_error(
        (std::string(what) + " must be C-contiguous (use numpy.ascontiguousarray)").c_str());
  }
  return a;
}

}  // namespace

std::vector<std::vector<float>> ReadRows(nb::handle array, size_t rows, int dim, const char* what) {
  const AnyArray a = CheckedArray(array, what);
  const bool one_row = a.ndim() == 1 && rows == 1 && a.shape(0) == static_cast<size_t>(dim);
  const bool matrix = a.ndim() == 2 && a.shape(0) == rows && a.shape(1) == static_cast<size_t>(dim);
  if (!one_row && !matrix) {
    const std::string want =
        rows == 1 ? "(" + std::to_string(dim) + ",) or (1, " + std::to_string(dim) + ")"
                  : "(" + std::to_string(rows) + ", " + std::to_string(dim) + ")";
    Throw(Status::InvalidArgument(std::string(what) + " has shape " + ShapeText(a) + "; expected " +
                                  want + " (" + std::to_string(rows) +
                                  (rows == 1 ? " text" : " texts") + ", dimension " +
                                  std::to_string(dim) + ")"));
  }
  // One copy, straight from the array's memory into what the store takes.
  const float* data = static_cast<const float*>(a.data());
  std::vector<std::vector<float>> out(rows);
  for (size_t r = 0; r < rows; ++r) out[r].assign(data + r * dim, data + (r + 1) * dim);
  return out;
}

nb::dict EpisodeDict(const memory::Episode& e) {
  nb::dict d;
  d["id"] = e.id;
  d["memory"] = e.text;
  d["role"] = e.role;
  d["session"] = e.session;
  d["metadata"] = e.metadata;
  d["importance"] = e.importance;
  d["timestamp_ms"] = e.timestamp_ms;
  d["created_at"] = FormatUtcTime(e.timestamp_ms);
  d["expires_ms"] = e.expires_ms;
  d["version"] = e.version;
  d["sources"] = e.sources;
  return d;
}

nb::dict RecalledDict(const memory::RecalledEpisode& r) {
  nb::dict d = EpisodeDict(r.episode);
  d["score"] = r.score;
  d["relevance"] = r.relevance;
  d["bm25"] = r.bm25;
  d["recency"] = r.recency;
  return d;
}

nb::dict HitDict(const retrieval::SearchHit& h) {
  nb::dict d;
  d["chunk_id"] = h.chunk_id;
  d["document_id"] = h.document_id;
  d["score"] = h.score;
  d["bm25"] = h.bm25_score;
  d["dense"] = h.dense_score;
  d["text"] = h.text;
  d["title"] = h.title;
  d["source"] = h.source;
  d["begin"] = h.begin;
  d["end"] = h.end;
  d["sentence_begin"] = h.sentence_begin;
  d["sentence_end"] = h.sentence_end;
  d["citation"] = h.Citation();
  return d;
}

nb::dict DocumentDict(const retrieval::DocumentInfo& info) {
  nb::dict d;
  d["id"] = info.id;
  d["title"] = info.title;
  d["source"] = info.source;
  d["format"] = info.format;
  d["sha256"] = info.sha256;
  d["tags"] = info.tags;
  d["created_ms"] = info.created_ms;
  d["updated_ms"] = info.updated_ms;
  d["created_at"] = FormatUtcTime(info.created_ms);
  d["updated_at"] = FormatUtcTime(info.updated_ms);
  d["bytes"] = info.bytes;
  d["chunks"] = info.chunks;
  return d;
}

}  // namespace engram::python
