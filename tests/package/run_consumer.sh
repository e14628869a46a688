#!/usr/bin/env bash
# Builds tests/package/consumer against an installed engram package, twice: with CMake
# (find_package(engram)) and with pkg-config (engram-memory.pc), and runs both builds.
# Usage: run_consumer.sh <install-prefix> <work-dir>
set -euo pipefail
prefix="${1:?usage: run_consumer.sh <install-prefix> <work-dir>}"
work="${2:?usage: run_consumer.sh <install-prefix> <work-dir>}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
rm -rf "$work" && mkdir -p "$work"

expect_porto() {  # the program's output must name the Porto episode, twice (before and after reopening)
  local out="$1"
  [[ "$(grep -c 'recalled: My sister Ana lives in Porto.' <<<"$out")" == 2 ]] ||
    { echo "run_consumer: error: unexpected output: $out" >&2; exit 1; }
}

cmake -S "$here/consumer" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/cmake-build" -j2 >/dev/null
expect_porto "$("$work/cmake-build/consumer" "$work/store-cmake")"
echo "run_consumer: find_package(engram) build ran"

export PKG_CONFIG_PATH="$(dirname "$(find "$prefix" -name engram-memory.pc | head -1)")"
# shellcheck disable=SC2046  # pkg-config prints several flags
g++ -O1 -o "$work/consumer-pc" "$here/consumer/main.cc" $(pkg-config --cflags --libs engram-memory)
expect_porto "$("$work/consumer-pc" "$work/store-pc")"
echo "run_consumer: pkg-config build ran"
