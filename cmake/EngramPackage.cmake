# The installable C++ package: `cmake --install <build> --prefix P` puts the public headers
# under P/include/engram (included as "memory/episodic_store.h", as in this tree), the static
# libraries under P/lib, an exported CMake package (find_package(engram) gives engram::common,
# engram::kernels, engram::retrieval, engram::inference and engram::memory) and a pkg-config file
# (engram-memory.pc: the memory store and retrieval, without the inference engine). In this tree
# the same names are aliases, so a project that add_subdirectory()s engram links the same targets.
include(CMakePackageConfigHelpers)

set(engram_package_targets common kernels retrieval inference memory)
foreach(name IN LISTS engram_package_targets)
  add_library(engram::${name} ALIAS engram_${name})
  set_target_properties(engram_${name} PROPERTIES EXPORT_NAME ${name})
  list(APPEND engram_installed_targets engram_${name})
endforeach()
# Linked privately by every library; a static library's private links are part of its export.
set_target_properties(engram_warnings PROPERTIES EXPORT_NAME warnings)

set(engram_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/engram)
install(TARGETS ${engram_installed_targets} engram_warnings
  EXPORT engramTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT engramTargets NAMESPACE engram:: DESTINATION ${engram_cmake_dir})

# Public headers keep their module folders; internal/ headers go too, since some public headers
# include them.
foreach(module common kernels retrieval inference memory)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${module} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/engram
    FILES_MATCHING PATTERN "*.h" PATTERN "*.inc")
endforeach()

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/engramConfig.cmake.in
  ${PROJECT_BINARY_DIR}/package/engramConfig.cmake
  INSTALL_DESTINATION ${engram_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/package/engramConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/package/engramConfig.cmake
  ${PROJECT_BINARY_DIR}/package/engramConfigVersion.cmake
  DESTINATION ${engram_cmake_dir})

# pkg-config: paths relative to the .pc file, so the installed tree can move.
file(RELATIVE_PATH engram_pc_to_prefix /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
configure_file(${PROJECT_SOURCE_DIR}/cmake/engram-memory.pc.in
  ${PROJECT_BINARY_DIR}/package/engram-memory.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/package/engram-memory.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
