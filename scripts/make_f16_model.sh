#!/usr/bin/env bash
# Makes SmolLM2-135M-Instruct.F16.gguf in $ENGRAM_MODELS_DIR (default ~/.cache/engram/models):
# the default Q4_1 model converted to F16 by the gguf package (scripts/make_f16_model.py). The
# golden tests compare it with llama.cpp's logits on the same file, which separates engram's
# arithmetic from quantization effects. The output is deterministic; a file already present with
# the expected digest is left alone. Needs the default model (scripts/fetch_models.sh) and PyPI.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
models_dir="${ENGRAM_MODELS_DIR:-$HOME/.cache/engram/models}"
src="$models_dir/SmolLM2-135M-Instruct.Q4_1.gguf"
dest="$models_dir/SmolLM2-135M-Instruct.F16.gguf"
expected=fea43f3ffef83a020894679eb91b2ab0127287d657a7313b47ba9c411dd4d47f

die() { echo "make_f16_model: error: $*" >&2; exit 1; }

if [ -f "$dest" ] && [ "$(sha256sum "$dest" | cut -d' ' -f1)" = "$expected" ]; then
  echo "make_f16_model: $dest present and verified" >&2
  exit 0
fi
[ -f "$src" ] || die "the default model '$src' is missing; run scripts/fetch_models.sh first"

work="$(mktemp -d)"
trap 'rm -rf "$work" "$dest.part"' EXIT
PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --target "$work/py" \
  gguf==0.19.0 numpy==2.4.6 \
  || die "pip could not install gguf==0.19.0 and numpy==2.4.6 (network or PyPI unavailable)"
PYTHONPATH="$work/py" python3 "$here/make_f16_model.py" "$src" "$dest.part" \
  || die "conversion of '$src' failed"
actual="$(sha256sum "$dest.part" | cut -d' ' -f1)"
if [ "$actual" != "$expected" ]; then
  rm -f "$dest.part"
  die "sha256 mismatch for the F16 model: expected $expected, got $actual"
fi
mv -f "$dest.part" "$dest"
echo "make_f16_model: wrote $dest ($(du -h "$dest" | cut -f1))" >&2
