#!/usr/bin/env bash
# Builds the libFuzzer targets with clang + ASan/UBSan into build-fuzz/ and runs the GGUF
# fuzzer for SECONDS (default 120) on a scratch copy of the seed corpus. Inputs that crash are
# written to build-fuzz/crashes/; copy them into tests/fuzz/corpus/gguf/ once fixed, so the
# ctest replay keeps them fixed.
#   Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-120}"
if ! command -v clang++-14 >/dev/null || ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "fuzz: installing clang-14 and libclang-rt-14-dev" >&2
  apt-get install -y --no-install-recommends clang-14 libclang-rt-14-dev >&2
fi
sanitize="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_CXX_FLAGS="$sanitize" -DENGRAM_CUDA=OFF -DENGRAM_FUZZ=ON >/dev/null
cmake --build build-fuzz --target engram_gguf_fuzzer
mkdir -p build-fuzz/corpus-gguf build-fuzz/crashes
cp -n tests/fuzz/corpus/gguf/* build-fuzz/corpus-gguf/ 2>/dev/null || true
# -rss_limit_mb and -malloc_limit_mb turn a huge allocation into a reported failure.
build-fuzz/bin/engram_gguf_fuzzer build-fuzz/corpus-gguf \
  -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
  -artifact_prefix=build-fuzz/crashes/ -print_final_stats=1
