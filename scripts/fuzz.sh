#!/usr/bin/env bash
# Builds the libFuzzer targets with clang + ASan/UBSan into build-fuzz/ and runs each for
# SECONDS (default 120) on a scratch copy of its seed corpus (tests/fuzz/corpus/<target>).
# Targets: gguf (GGUF reader, metadata, tokenizer loaders), document (text/Markdown/HTML/PDF
# parser and chunker), json (typed JSON reader, eval data, safetensors header), request (the
# server's request body readers); default all.
# Inputs that crash are written to build-fuzz/crashes/<target>/; copy them into
# tests/fuzz/corpus/<target>/ once fixed, so the ctest replay keeps them fixed.
#   Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-120}"
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(gguf document json request)
if ! command -v clang++-14 >/dev/null || ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "fuzz: installing clang-14 and libclang-rt-14-dev" >&2
  apt-get install -y --no-install-recommends clang-14 libclang-rt-14-dev >&2
fi
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
sanitize="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer"
cmake -S . -B build-fuzz "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_CXX_FLAGS="$sanitize" -DENGRAM_CUDA=OFF -DENGRAM_FUZZ=ON >/dev/null
for t in "${targets[@]}"; do
  cmake --build build-fuzz --target "engram_${t}_fuzzer" -j"$(nproc)"
done
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus-$t" "build-fuzz/crashes/$t"
  cp -n tests/fuzz/corpus/"$t"/* "build-fuzz/corpus-$t/" 2>/dev/null || true
  echo "fuzz: $t for ${seconds}s" >&2
  # -rss_limit_mb and -malloc_limit_mb turn a huge allocation into a reported failure;
  # -timeout turns a slow input (super-linear parsing) into one.
  "build-fuzz/bin/engram_${t}_fuzzer" "build-fuzz/corpus-$t" \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -timeout=10 -artifact_prefix="build-fuzz/crashes/$t/" -print_final_stats=1
done
