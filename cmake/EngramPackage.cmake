# The installable C++ package: `cmake --install` puts the public headers under include/engram,
# the static libraries under lib, and an exported CMake package (find_package(engram) gives
# engram::common, engram::kernels, engram::retrieval, engram::inference, engram::memory) plus a
# pkg-config file (engram-memory.pc). In this tree the same names are aliases, so a project that
# add_subdirectory()s engram links the same targets.
set(engram_package_targets common kernels retrieval inference memory)
foreach(name IN LISTS engram_package_targets)
  add_library(engram::${name} ALIAS engram_${name})
endforeach()
