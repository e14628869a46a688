#!/usr/bin/env bash
# The test command: setup (packages + models) -> configure -> build -> ctest.
# Environment: ENGRAM_BUILD_DIR (default ./build), ENGRAM_CUDA (AUTO|ON|OFF, default AUTO),
# CTEST_ARGS (extra ctest arguments, e.g. "-L unit" or "-LE slow").
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${ENGRAM_BUILD_DIR:-$root/build}"
jobs="$(nproc)"

bash "$root/scripts/setup.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DENGRAM_CUDA="${ENGRAM_CUDA:-AUTO}"
cmake --build "$build" -j"$jobs"
# shellcheck disable=SC2086  # CTEST_ARGS is a list of arguments
ctest --test-dir "$build" --output-on-failure -j"$jobs" ${CTEST_ARGS:-}
# Tests labelled `cuda` skip without a GPU; say why, so a skip is never mistaken for a pass.
"$build/bin/engram" info --no-verify | sed -n '/^cuda/,/^paths/p' | sed '$d'
