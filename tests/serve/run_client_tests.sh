#!/usr/bin/env bash
# Real-client tests of `engram serve`: the official `openai` Python package and curl against a
# running server (tests/serve/test_*.py; fixtures in conftest.py).
#
#   tests/serve/run_client_tests.sh build/bin/engram [pytest args...]
#
# The Python environment is a venv created once at
# ${ENGRAM_TEST_VENV:-$HOME/.cache/engram/venv-serve-tests} with `pip install openai pytest`
# (needs PyPI the first time). A failed install fails this script (exit 1): it never skips.
# The server loads the default model (scripts/fetch_models.sh; ENGRAM_MODELS_DIR as usual).
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 ENGRAM_BINARY [pytest args...]" >&2
  exit 2
fi
binary="$1"; shift
if [[ ! -x "$binary" ]]; then
  echo "run_client_tests: '$binary' is not an executable file" >&2
  exit 1
fi
binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${ENGRAM_TEST_VENV:-${HOME:?HOME is not set; set ENGRAM_TEST_VENV}/.cache/engram/venv-serve-tests}"

for tool in python3 curl; do
  command -v "$tool" >/dev/null || { echo "run_client_tests: '$tool' is required" >&2; exit 1; }
done

# A venv is ready once the marker exists (written only after a successful install), so an
# interrupted install is redone rather than half used.
marker="$venv/.engram-ready"
if [[ ! -f "$marker" ]] || ! "$venv/bin/python" -c 'import openai, pytest' 2>/dev/null; then
  echo "run_client_tests: creating the test venv at $venv (pip install openai pytest)" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  if ! python3 -m venv "$venv"; then
    echo "run_client_tests: FAILED: python3 -m venv $venv (install python3-venv)" >&2
    exit 1
  fi
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q openai pytest; then
    echo "run_client_tests: FAILED: pip install openai pytest into $venv (is PyPI reachable?)" >&2
    rm -rf "$venv"
    exit 1
  fi
  "$venv/bin/python" -c 'import openai, pytest' || {
    echo "run_client_tests: FAILED: openai/pytest not importable after install" >&2; exit 1; }
  touch "$marker"
fi

export ENGRAM_BINARY="$binary"
export PYTHONDONTWRITEBYTECODE=1                      # nothing written into the source tree
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
cd "$here"
exec "$venv/bin/python" -m pytest -x -q -c "$here/pytest.ini" --rootdir "$here" "$here" "$@"
