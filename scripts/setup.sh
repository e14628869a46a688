#!/usr/bin/env bash
# Installs every Debian package engram's build and tests need, then fetches the default models.
# Idempotent: packages already installed are not touched (no apt-get at all when none is
# missing), and scripts/fetch_models.sh skips model files that are present and verified.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

packages=(
  # toolchain
  build-essential cmake pkg-config git ca-certificates unzip python3 python3-pip
  # libraries named in DESIGN.md
  libfaiss-dev librocksdb-dev libsentencepiece-dev libboost-dev nlohmann-json3-dev
  libspdlog-dev libfmt-dev libcli11-dev libpoppler-cpp-dev libgumbo-dev prometheus-cpp-dev
  # BM25's english stemmer (Snowball), proposed in issue 24's note
  libstemmer-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in "${packages[@]}"; do
  # python3/pip may come from elsewhere (pyenv, a venv); only install them when absent.
  case "$p" in
    python3) command -v python3 >/dev/null && continue ;;
    python3-pip) python3 -m pip --version >/dev/null 2>&1 && continue ;;
  esac
  installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: error: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#packages[@]} packages present" >&2
fi

bash "$here/fetch_models.sh"
bash "$here/make_f16_model.sh"
