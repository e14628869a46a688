#!/usr/bin/env bash
# Tokenizer throughput, engram vs its peers, in one run on one machine, one thread each:
#   SmolLM2 BPE (default generator GGUF): engram, llama.cpp (llama-cpp-python), HF tokenizers
#   all-MiniLM-L6-v2 WordPiece:           engram, HF tokenizers
# on the essays under $ENGRAM_SHARED_DATA/haystack/pg_essays (one paragraph per line).
# Needs the peers venv (bash scripts/goldens/setup_peers.sh) and a build (build/bin/engram).
#   Usage: bench/peer_tokenize.sh [REPETITIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
reps="${1:-5}"
[[ -x .venv-peers/bin/python ]] || bash scripts/goldens/setup_peers.sh
cmake --build build --target engram >/dev/null
shared="${ENGRAM_SHARED_DATA:-$(pwd)/../shared/data}"
models="${ENGRAM_MODELS_DIR:-$HOME/.cache/engram/models}"
mapfile -t files < <(ls "$shared"/haystack/pg_essays/*.txt | sort)

for model in "$models/SmolLM2-135M-Instruct.Q4_1.gguf" "$models/all-MiniLM-L6-v2"; do
  ours=$(build/bin/engram bench tokenize -m "$model" --repetitions "$reps" --json "${files[@]/#/--file=}")
  peers=$(.venv-peers/bin/python bench/peer_tokenize.py --model "$model" --repetitions "$reps" "${files[@]}")
  .venv-peers/bin/python - "$ours" "$peers" <<'PY'
import json, sys
ours, peers = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert ours["paragraphs"] == peers["paragraphs"], (ours["paragraphs"], peers["paragraphs"])
print(f"\n{ours['model']} ({ours['tokenizer']}), {ours['paragraphs']} paragraphs, "
      f"{ours['bytes']/1e6:.2f} MB, commit {ours['commit']}, {ours['machine']}")
print(f"  {'tokenizer':44} {'tokens':>8} {'encode MB/s':>12} {'decode MB/s':>12} {'engram encode ratio':>20}")
rows = [("engram", ours)] + [(p["peer"], p) for p in peers["results"]]
for name, r in rows:
    ratio = ours["encode_mb_per_s"] / r["encode_mb_per_s"]
    print(f"  {name:44} {r['tokens']:>8} {r['encode_mb_per_s']:>12.2f} {r['decode_mb_per_s']:>12.2f} {ratio:>19.2f}x")
    if "encode_mb_per_s_without_binding" in r:
        fair = r["encode_mb_per_s_without_binding"]
        print(f"  {'  ... minus the Python binding cost per call':44} {'':>8} {fair:>12.2f} {'':>12} "
              f"{ours['encode_mb_per_s'] / fair:>19.2f}x  ({r['binding_overhead_s']:.2f} s of calls on 1 byte)")
PY
done
