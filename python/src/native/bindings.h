// The pieces of engram._engram (module.cc assembles them).
#pragma once

#include <nanobind/nanobind.h>

namespace engram::python {

void BindMemory(nanobind::module_& m);      // _Store (memory_binding.cc)
void BindCollection(nanobind::module_& m);  // _Collection (collection_binding.cc)

}  // namespace engram::python
