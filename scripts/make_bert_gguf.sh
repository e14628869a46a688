#!/usr/bin/env bash
# Converts the default embedder, all-MiniLM-L6-v2 (a sentence-transformers directory in
# $ENGRAM_MODELS_DIR, default ~/.cache/engram/models), to GGUF with llama.cpp's own
# convert_hf_to_gguf.py, so engram's BERT embedder can be tested on a llama.cpp bert GGUF:
#   all-MiniLM-L6-v2.f32.gguf   (default)      all-MiniLM-L6-v2.f16.gguf   (with argument f16)
# Usage: bash scripts/make_bert_gguf.sh [f32] [f16]        prints the path of each output file.
#
# The converter comes from the llama-cpp-python==0.3.36 sdist on PyPI (its vendor/llama.cpp:
# convert_hf_to_gguf.py, conversion/ and gguf-py/; PyPI's gguf 0.19.0 is older than this
# gguf-py and lacks what the converter needs). The sdist is kept in $ENGRAM_PEERS_CACHE (default
# ~/.cache/engram/peers) and verified, so reruns need no network. The converter imports torch
# and transformers: it runs with the peers' python, $ENGRAM_PEERS_PYTHON (default
# .venv-peers/bin/python; scripts/goldens/setup_peers.sh makes it). The conversion is
# deterministic: an output already present with its recorded digest is left alone, and a new one
# must match it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
models_dir="${ENGRAM_MODELS_DIR:-$HOME/.cache/engram/models}"
cache="${ENGRAM_PEERS_CACHE:-$HOME/.cache/engram/peers}"
py="${ENGRAM_PEERS_PYTHON:-$root/.venv-peers/bin/python}"
src="$models_dir/all-MiniLM-L6-v2"

sdist_version=0.3.36
sdist="$cache/llama_cpp_python-$sdist_version.tar.gz"
sdist_sha=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
conv="$cache/llama.cpp-$sdist_version"  # the converter's files, extracted from the sdist
declare -A expected=(
  [f32]=800ba1d7d4fe214ae39d88ef45806e96519017e558f80c09ba27b06d55bc8a12
  [f16]=45013d2d36e25fb4f81be9fd7216f41e4c5afb936397c07a0e593b8b5fcac181
)

die() { echo "make_bert_gguf: error: $*" >&2; exit 1; }
say() { echo "make_bert_gguf: $*" >&2; }
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

types=("$@")
[ "${#types[@]}" -gt 0 ] || types=(f32)
for t in "${types[@]}"; do
  [ -n "${expected[$t]:-}" ] || die "unknown output type '$t' (expected f32 or f16)"
done

# Outputs already there and verified need nothing else (no python, no network).
todo=()
for t in "${types[@]}"; do
  dest="$models_dir/all-MiniLM-L6-v2.$t.gguf"
  if [ -f "$dest" ] && [ "$(sha_of "$dest")" = "${expected[$t]}" ]; then
    say "$dest present and verified"
  else
    todo+=("$t")
  fi
done
if [ "${#todo[@]}" -eq 0 ]; then
  for t in "${types[@]}"; do echo "$models_dir/all-MiniLM-L6-v2.$t.gguf"; done
  exit 0
fi

for f in config.json model.safetensors vocab.txt tokenizer.json tokenizer_config.json; do
  [ -f "$src/$f" ] || die "'$src/$f' is missing; run scripts/fetch_models.sh first"
done
[ -x "$py" ] || die "no peers python at '$py' (the converter needs torch and transformers); run scripts/goldens/setup_peers.sh or set ENGRAM_PEERS_PYTHON"
"$py" -c 'import torch, transformers, numpy, sentencepiece, yaml, tqdm' 2>/dev/null \
  || die "'$py' lacks a converter dependency (torch, transformers, numpy, sentencepiece, pyyaml, tqdm); run scripts/goldens/setup_peers.sh"

work="$(mktemp -d)"
trap 'rm -rf "$work"; for t in "${todo[@]}"; do rm -f "$models_dir/all-MiniLM-L6-v2.$t.gguf.part"; done' EXIT

# The converter, from the cached (or freshly downloaded) sdist.
if [ ! -f "$conv/.complete" ]; then
  mkdir -p "$cache"
  if [ ! -f "$sdist" ] || [ "$(sha_of "$sdist")" != "$sdist_sha" ]; then
    say "downloading the llama-cpp-python==$sdist_version sdist (77 MB) into $cache"
    rm -f "$sdist"
    PIP_ROOT_USER_ACTION=ignore "$py" -m pip download --quiet --disable-pip-version-check \
      --no-binary :all: --no-deps --dest "$work/dl" "llama-cpp-python==$sdist_version" >"$work/pip.log" 2>&1 \
      || die "pip could not download llama-cpp-python==$sdist_version (network or PyPI unavailable): $(tail -n1 "$work/pip.log")"
    [ -f "$work/dl/llama_cpp_python-$sdist_version.tar.gz" ] || die "pip did not produce llama_cpp_python-$sdist_version.tar.gz"
    mv -f "$work/dl/llama_cpp_python-$sdist_version.tar.gz" "$sdist"
  fi
  actual="$(sha_of "$sdist")"
  [ "$actual" = "$sdist_sha" ] || { rm -f "$sdist"; die "sha256 mismatch for $sdist: expected $sdist_sha, got $actual"; }
  top="llama_cpp_python-$sdist_version/vendor/llama.cpp"
  tar -xzf "$sdist" -C "$work" "$top/convert_hf_to_gguf.py" "$top/conversion" "$top/gguf-py" "$top/LICENSE" \
    || die "could not extract the converter from $sdist"
  rm -rf "$conv"
  mv "$work/$top" "$conv"
  touch "$conv/.complete"
fi

for t in "${todo[@]}"; do
  dest="$models_dir/all-MiniLM-L6-v2.$t.gguf"
  start=$SECONDS
  # Offline: everything the converter reads is in $src; its own gguf-py comes first on the path.
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$py" "$conv/convert_hf_to_gguf.py" "$src" \
    --outtype "$t" --outfile "$dest.part" >"$work/convert.log" 2>&1 \
    || die "convert_hf_to_gguf.py failed for $t: $(grep -v '^INFO' "$work/convert.log" | tail -n1)"
  actual="$(sha_of "$dest.part")"
  [ "$actual" = "${expected[$t]}" ] \
    || die "sha256 mismatch for the $t GGUF: expected ${expected[$t]}, got $actual (a different model directory or converter?)"
  mv -f "$dest.part" "$dest"
  say "wrote $dest ($(du -h "$dest" | cut -f1), $((SECONDS - start)) s)"
done
for t in "${types[@]}"; do echo "$models_dir/all-MiniLM-L6-v2.$t.gguf"; done
