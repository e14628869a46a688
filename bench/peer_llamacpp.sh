#!/usr/bin/env bash
# Prefill and decode tokens/s, engram vs llama.cpp (llama-cpp-python 0.3.36, built from source
# for this CPU), same GGUF, same text, same thread count, in one run on one machine; then the
# peak RSS of `engram generate` at a 2048-token context against model file + KV cache bytes.
# Contexts are interleaved (engram, llama.cpp, engram, ...) so drift on a shared machine hits both.
#   Usage: bench/peer_llamacpp.sh [--threads N] [--ctx 512,2048,8192] [--tokens T] [--model F]
# Medians of 3 runs up to 2048 tokens, 1 run above (8192-token prefill takes about a minute).
# Needs a build (build/bin/engram) and the peers venv (scripts/goldens/setup_peers.sh). On CPUs
# that report AMX, llama.cpp must be built without it where the kernel does not enable AMX tiles
# (it dies with SIGILL otherwise): CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON
# -DGGML_F16C=ON -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX_VNNI=ON ..." (see
# docs/benchmarks.md for the exact line used).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2 ctxs=512,2048,8192 tokens=32
models="${ENGRAM_MODELS_DIR:-$HOME/.cache/engram/models}"
model="$models/SmolLM2-135M-Instruct.Q4_1.gguf"
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --ctx) ctxs="$2"; shift 2 ;;
    --tokens) tokens="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    *) echo "peer_llamacpp: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ -x .venv-peers/bin/python ]] || bash scripts/goldens/setup_peers.sh
[[ -x build/bin/engram ]] || { echo "peer_llamacpp: build/bin/engram is missing; build first" >&2; exit 1; }
shared="${ENGRAM_SHARED_DATA:-$(pwd)/../shared/data}"
text="$(mktemp)"
trap 'rm -f "$text"' EXIT
cat $(ls "$shared"/haystack/pg_essays/*.txt | sort) > "$text"

echo "machine: $(build/bin/engram info --no-verify | sed -n 's/^  cpu *//p') | threads $threads | commit $(git rev-parse --short HEAD)"
printf '%6s | %14s %14s %6s | %14s %14s %6s\n' ctx "engram pre/s" "llama.cpp pre/s" ratio "engram dec/s" "llama.cpp dec/s" ratio
IFS=, read -ra list <<< "$ctxs"
for c in "${list[@]}"; do
  reps=1; [ "$c" -le 2048 ] && reps=3
  ep=$(build/bin/engram bench prefill -m "$model" --ctx "$c" --threads "$threads" --text "$text" --repeat "$reps" --json)
  lp=$(.venv-peers/bin/python bench/peer_llamacpp.py --what prefill --model "$model" --text "$text" --ctx "$c" --threads "$threads" --repeat "$reps")
  ed=$(build/bin/engram bench decode -m "$model" --ctx "$c" --tokens "$tokens" --threads "$threads" --text "$text" --repeat "$reps" --json)
  ld=$(.venv-peers/bin/python bench/peer_llamacpp.py --what decode --model "$model" --text "$text" --ctx "$c" --tokens "$tokens" --threads "$threads" --repeat "$reps")
  .venv-peers/bin/python - "$ep" "$lp" "$ed" "$ld" <<'PY'
import json, sys
ep, lp, ed, ld = (json.loads(x) for x in sys.argv[1:])
e_pre = ep["results"][0]["prefill_tokens_per_s"]; l_pre = lp["tokens_per_s"]
e_dec = ed["results"][0]["decode_tokens_per_s"]; l_dec = ld["tokens_per_s"]
print(f"{lp['ctx']:6d} | {e_pre:14.1f} {l_pre:14.1f} {e_pre/l_pre:5.2f}x | {e_dec:14.1f} {l_dec:14.1f} {e_dec/l_dec:5.2f}x")
PY
done

# Peak RSS of generate at a 2048-token context (prompt truncated to fit, 16 new tokens).
rss_file="$(mktemp)"
/usr/bin/time -f '%M' -o "$rss_file" build/bin/engram generate -m "$model" --ctx 2048 --truncate \
  -f "$text" -n 16 --temp 0 --threads "$threads" >/dev/null 2>&1
rss_kb=$(tail -1 "$rss_file"); rm -f "$rss_file"
.venv-peers/bin/python - "$rss_kb" "$model" <<'PY'
import os, sys
from gguf import GGUFReader
rss = int(sys.argv[1]) * 1024
r = GGUFReader(sys.argv[2])
arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
get = lambda k: int(r.fields[f"{arch}.{k}"].parts[-1][0])
n_layer, n_embd, n_head = get("block_count"), get("embedding_length"), get("attention.head_count")
n_kv = get("attention.head_count_kv")
kv = 2 * n_layer * n_kv * (n_embd // n_head) * 2048 * 2  # f16 keys and values
size = os.path.getsize(sys.argv[2])
print(f"peak RSS of engram generate at ctx 2048: {rss/2**20:.1f} MiB; model file {size/2**20:.1f} MiB + "
      f"KV cache {kv/2**20:.1f} MiB = {(size+kv)/2**20:.1f} MiB; ratio {rss/(size+kv):.2f} (target <= 1.3)")
PY
