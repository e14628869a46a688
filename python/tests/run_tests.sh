#!/usr/bin/env bash
# Builds the engram Python package against an installed engram C++ package and runs its pytest
# suite (python/tests/test_*.py: real stores on disk, the default embedder, child processes).
#
#   python/tests/run_tests.sh INSTALL_PREFIX [pytest args...]
#
# INSTALL_PREFIX is what `cmake --install BUILD --prefix INSTALL_PREFIX` filled (the ctest
# fixture engram_package installs into BUILD/package-install). The Python environment is a venv
# created once at ${ENGRAM_PY_TEST_VENV:-$HOME/.cache/engram/venv-python-tests} with the pinned
# build and test tools below (needs PyPI the first time); the package is then
# `pip install --no-build-isolation`ed into it, built in ${ENGRAM_PY_BUILD_DIR:-INSTALL_PREFIX/../
# python-package-build} (reused, so a rebuild is incremental). A failed venv or package install
# fails this script (exit 1): it never skips. The embedder comes from ENGRAM_MODELS_DIR
# (scripts/fetch_models.sh).
set -euo pipefail

pins=(scikit-build-core==0.11.6 nanobind==2.9.2 numpy==2.2.6 pytest==8.4.2)

if [[ $# -lt 1 ]]; then
  echo "usage: $0 INSTALL_PREFIX [pytest args...]" >&2
  exit 2
fi
prefix="$1"; shift
if [[ ! -d "$prefix" ]]; then
  echo "run_tests: install prefix '$prefix' does not exist (run cmake --install BUILD --prefix it)" >&2
  exit 1
fi
prefix="$(cd "$prefix" && pwd)"
if [[ -z "$(find "$prefix" -path '*cmake*' \( -name 'engramConfig.cmake' -o -name 'engram-config.cmake' \) -print -quit)" ]]; then
  echo "run_tests: no engram CMake package under '$prefix' (engramConfig.cmake); install it first" >&2
  exit 1
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
package="$(cd "$here/.." && pwd)"
venv="${ENGRAM_PY_TEST_VENV:-${HOME:?HOME is not set; set ENGRAM_PY_TEST_VENV}/.cache/engram/venv-python-tests}"
build_dir="${ENGRAM_PY_BUILD_DIR:-$(dirname "$prefix")/python-package-build}"

command -v python3 >/dev/null || { echo "run_tests: 'python3' is required" >&2; exit 1; }

# A venv is ready once the marker holds the pins (written only after a successful install), so
# an interrupted install, or new pins, are redone rather than half used.
marker="$venv/.engram-ready"
if [[ "$(cat "$marker" 2>/dev/null)" != "${pins[*]}" ]] ||
   ! "$venv/bin/python" -c 'import scikit_build_core, nanobind, numpy, pytest' 2>/dev/null; then
  echo "run_tests: creating the test venv at $venv (pip install ${pins[*]})" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  if ! python3 -m venv "$venv"; then
    echo "run_tests: FAILED: python3 -m venv $venv (install python3-venv)" >&2
    exit 1
  fi
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q "${pins[@]}"; then
    echo "run_tests: FAILED: pip install ${pins[*]} into $venv (is PyPI reachable?)" >&2
    rm -rf "$venv"
    exit 1
  fi
  echo "${pins[*]}" > "$marker"
fi

echo "run_tests: building the package against $prefix (build dir $build_dir)" >&2
start=$SECONDS
if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q --no-build-isolation \
     --no-deps --force-reinstall "$package" \
     -C "build-dir=$build_dir" \
     -C "cmake.define.CMAKE_PREFIX_PATH=$prefix" \
     -C "cmake.define.ENGRAM_PYTHON_REQUIRE_PACKAGE=ON"; then
  echo "run_tests: FAILED: pip install $package against $prefix" >&2
  exit 1
fi
echo "run_tests: package installed in $((SECONDS - start)) s" >&2

export PYTHONDONTWRITEBYTECODE=1  # nothing written into the source tree
cd "$here"
exec "$venv/bin/python" -m pytest -q -c "$here/pytest.ini" --rootdir "$here" "$here" "$@"
