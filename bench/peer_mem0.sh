#!/usr/bin/env bash
# engram's memory store against Mem0 (mem0ai) on LoCoMo, offline, the same embedder for both
# (bench/peer_mem0.py says what is measured and how).
#   Usage: bench/peer_mem0.sh [--conversations N] [--rounds R] [--locomo FILE]
#                             [--work-dir DIR] [--torch-threads N] [--json] [--save FILE]
# Builds .venv-bench-mem0 the first time: the pinned Mem0 set below (torch from PyPI, with its
# CUDA wheels, ~3 GB) and the engram package from ./python. With no installed engram C++ package
# that builds the libraries too (many minutes; its build folder, build-bench-mem0/, is kept so a
# reinstall only rebuilds what changed). ENGRAM_PREFIX=<prefix of `cmake --install`> builds
# against that instead; ENGRAM_REINSTALL=1 reinstalls the package (after python/ changed).
# Needs the embedder (scripts/fetch_models.sh) and the LoCoMo file ($ENGRAM_SHARED_DATA or
# --locomo).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { echo "peer_mem0: error: $*" >&2; exit 1; }
venv=.venv-bench-mem0
py="$venv/bin/python"
PINS=(mem0ai==2.2.1 qdrant-client==1.20.0 sentence-transformers==6.3.0 transformers==5.24.0
  torch==2.15.0 numpy==2.4.6 scikit-build-core==0.11.6 nanobind==2.9.2)

has_pins() {
  [[ -x "$py" ]] && "$py" -c "
import sys, importlib.metadata as m
pins = dict(p.split('==') for p in sys.argv[1:])
sys.exit(any(m.version(name) != v for name, v in pins.items()))" "${PINS[@]}" 2>/dev/null
}

install_engram() {
  [ -f python/pyproject.toml ] || die "no ./python/pyproject.toml (the engram package)"
  local args=(--no-build-isolation -C "build-dir=$PWD/build-bench-mem0/python")
  [ -n "${ENGRAM_PREFIX:-}" ] && args+=(-C "cmake.define.CMAKE_PREFIX_PATH=$ENGRAM_PREFIX")
  echo "peer_mem0: installing the engram package from ./python into $venv" >&2
  nice "$venv/bin/pip" install --quiet --disable-pip-version-check "${args[@]}" ./python \
    || die "pip could not build ./python into $venv"
}

if ! has_pins; then
  echo "peer_mem0: installing ${PINS[*]} into $venv (torch brings its CUDA wheels, ~3 GB)" >&2
  [[ -x "$py" ]] || python3 -m venv "$venv" || die "python3 -m venv $venv failed"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}" \
    || die "pip could not install the Mem0 pins into $venv"
fi
if [ "${ENGRAM_REINSTALL:-0}" = 1 ] || ! "$py" -c "import engram; engram.Memory" 2>/dev/null; then
  install_engram
fi
exec "$py" bench/peer_mem0.py "$@"
