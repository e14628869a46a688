// engram._engram: the native half of the `engram` Python package. The public API (Memory,
// Collection, the exceptions) is engram/__init__.py; this module holds the C++ objects.
#include <nanobind/nanobind.h>

#include "bindings.h"
#include "errors.h"
#include "memory/episodic_store.h"

namespace nb = nanobind;

NB_MODULE(_engram, m) {
  m.doc() = "Native core of the engram package (use engram.Memory and engram.Collection).";
  engram::python::RegisterErrors(m);
  engram::python::BindMemory(m);
  engram::python::BindCollection(m);
  m.attr("MAX_TEXT_BYTES") = engram::memory::kMaxEpisodeTextBytes;
  m.attr("MAX_TIME_MS") = engram::memory::kMaxTimeMs;
  m.attr("MAX_LIST_LIMIT") = engram::memory::kMaxListLimit;
}
