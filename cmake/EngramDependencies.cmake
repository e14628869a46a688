# Every third-party library engram uses, all from Debian packages (scripts/setup.sh installs them).
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED)            # before faiss: its CMake config links OpenMP::OpenMP_CXX
find_package(faiss CONFIG REQUIRED)      # Debian 1.7.3, CPU only
find_package(RocksDB CONFIG REQUIRED)
# RocksDB's shared library where there is one: Debian's static archive is not position-independent
# code, so it cannot go into a shared object (the Python module, a user's plugin).
if(TARGET RocksDB::rocksdb-shared)
  set(ENGRAM_ROCKSDB RocksDB::rocksdb-shared)
else()
  set(ENGRAM_ROCKSDB RocksDB::rocksdb)
endif()
find_package(nlohmann_json CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(Boost REQUIRED)             # Asio + Beast are header-only
find_package(prometheus-cpp CONFIG REQUIRED)  # metrics registry + text format (prometheus-cpp::core)
find_package(PkgConfig REQUIRED)
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)
pkg_check_modules(POPPLER_CPP REQUIRED IMPORTED_TARGET poppler-cpp)
pkg_check_modules(GUMBO REQUIRED IMPORTED_TARGET gumbo)
# Snowball's libstemmer (BM25's english stemmer); Debian ships no pkg-config or CMake file for it.
find_path(STEMMER_INCLUDE_DIR libstemmer.h REQUIRED)
find_library(STEMMER_LIBRARY stemmer REQUIRED)
if(ENGRAM_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
find_package(benchmark CONFIG QUIET)
