// Conversions between Python values and engram's C++ types that the casters do not cover:
// embedding arrays (checked, read without an intermediate Python copy) and episodes, hits and
// documents as the dicts the Python API returns. Call with the GIL held.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "memory/episodic_store.h"
#include "retrieval/collection.h"

namespace engram::python {

// What the stubs show for the dicts and lists the API returns.
using PyDict = nanobind::typed<nanobind::dict, nanobind::str, nanobind::any>;
using PyDictList = nanobind::typed<nanobind::list, PyDict>;
using PyOptionalDict = nanobind::typed<nanobind::object, std::optional<PyDict>>;

// `array` as `rows` embeddings of `dim` floats. It must be a CPU array (numpy, or anything
// with the buffer protocol or DLPack) of dtype float32, C-contiguous, shaped (rows, dim) or,
// for one row, (dim,). TypeError for anything that is not such an array; engram
// InvalidArgument (a ValueError) for a shape that does not match. `what` names the argument.
std::vector<std::vector<float>> ReadRows(nanobind::handle array, size_t rows, int dim,
                                         const char* what);

// "2023-05-08T13:56:00.123Z" (milliseconds shown only when not zero).
std::string FormatTime(int64_t ms);

// {"id", "memory", "role", "session", "metadata", "importance", "timestamp_ms",
//  "created_at", "expires_ms", "version", "sources"}.
nanobind::dict EpisodeDict(const memory::Episode& e);
// EpisodeDict plus "score", "relevance", "bm25", "recency".
nanobind::dict RecalledDict(const memory::RecalledEpisode& r);
// {"chunk_id", "document_id", "score", "bm25", "dense", "text", "title", "source", "begin",
//  "end", "citation"}.
nanobind::dict HitDict(const retrieval::SearchHit& h);
// {"id", "title", "source", "format", "sha256", "tags", "created_at", "updated_at",
//  "created_ms", "updated_ms", "bytes", "chunks"}.
nanobind::dict DocumentDict(const retrieval::DocumentInfo& d);

}  // namespace engram::python
