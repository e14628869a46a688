#!/usr/bin/env bash
# Creates .venv-peers/ (git-ignored) with the pinned peers the golden generators compare against.
# llama-cpp-python builds llama.cpp from source (several minutes on 2 cores).
# torch is there only because transformers 5 imports it to read a GGUF (AutoTokenizer with
# gguf_file=..., used by tokenize_bpe.py); from PyPI it brings its CUDA wheels (~3 GB on disk).
# Usage: bash scripts/goldens/setup_peers.sh   then   .venv-peers/bin/python scripts/goldens/<gen>.py
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.venv-peers
[[ -x $venv/bin/python ]] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON}" "$venv/bin/pip" install --quiet \
  llama-cpp-python==0.3.36 \
  transformers==5.24.0 tokenizers==0.23.3 sentencepiece==0.2.3 \
  gguf==0.19.0 numpy==2.4.6 protobuf
"$venv/bin/pip" install --quiet torch==2.15.0
echo "setup_peers: ready in $venv"
