#!/usr/bin/env bash
# engram's sentence embedder against sentence-transformers (CPU torch) in one run: the same
# model directory, texts (the first N SQuAD dev sentences), batch sizes and thread count; the
# engines alternate (engram, peer, engram, peer) so drift on a shared machine hits both, and each
# engine's median pass is compared.
#   Usage: bench/peer_embed.sh [--threads N] [--batch 1,32] [--sentences N] [--rounds R]
#                              [--precision auto|f32|bf16] [--json]
# Needs a build (build/bin/engram) and the peers venv (scripts/goldens/setup_peers.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { echo "peer_embed: error: $*" >&2; exit 1; }
threads=2 batch=1,32 sentences=1024 rounds=2 precision=auto json=0
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --sentences) sentences="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --precision) precision="$2"; shift 2 ;;
    --json) json=1; shift ;;
    *) die "unknown argument '$1' (see the usage at the top of $0)" ;;
  esac
done
engram=build/bin/engram
py=.venv-peers/bin/python
[ -x "$engram" ] || die "no $engram; build first (README: Building)"
[ -x "$py" ] || die "no $py; run scripts/goldens/setup_peers.sh"
model="${ENGRAM_MODELS_DIR:-$HOME/.cache/engram/models}/all-MiniLM-L6-v2"
[ -d "$model" ] || die "no embedder at '$model'; run scripts/fetch_models.sh"
export ENGRAM_SHARED_DATA="${ENGRAM_SHARED_DATA:-$(pwd)/../shared/data}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for r in $(seq "$rounds"); do
  [ -t 2 ] && echo "peer_embed: round $r of $rounds ..." >&2
  "$engram" bench embed --model "$model" --threads "$threads" --batch "$batch" \
    --sentences "$sentences" --precision "$precision" --json > "$work/engram.$r.json" 2>"$work/err" \
    || { tail -5 "$work/err" >&2; die "engram bench embed failed"; }
  "$py" bench/peer_embed.py --model "$model" --threads "$threads" --batch "$batch" \
    --sentences "$sentences" > "$work/peer.$r.json" 2>"$work/err" \
    || { tail -5 "$work/err" >&2; die "bench/peer_embed.py failed"; }
done

"$py" - "$work" "$rounds" "$json" <<'PY'
import json, statistics, sys
work, rounds, as_json = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
eng = [json.load(open(f"{work}/engram.{r}.json")) for r in range(1, rounds + 1)]
peer = [json.load(open(f"{work}/peer.{r}.json")) for r in range(1, rounds + 1)]
rows = []
for i, row in enumerate(eng[0]["results"]):
    med = lambda runs, key: statistics.median(x["results"][i][key] for x in runs)
    e, p = med(eng, "sentences_per_s"), med(peer, "sentences_per_s")
    rows.append({"batch": row["batch"], "engram_sentences_per_s": e, "peer_sentences_per_s": p,
                 "ratio": e / p, "engram_p50_ms": med(eng, "p50_ms"), "peer_p50_ms": med(peer, "p50_ms")})
out = {"bench": "peer_embed", "engram_commit": eng[0]["commit"], "machine": eng[0]["machine"],
       "gemm_isa": eng[0]["gemm_isa"], "precision": eng[0]["precision"], "peer": peer[0]["peer"], "threads": peer[0]["threads"],
       "sentences": eng[0]["sentences"], "mean_tokens": eng[0]["mean_tokens"],
       "peer_mean_tokens": peer[0]["mean_tokens"], "rounds": rounds, "results": rows}
if as_json:
    print(json.dumps(out, indent=2))
    sys.exit()
print(f"machine: {out['machine']} | threads {out['threads']} | engram {out['engram_commit']} ({out['precision']}, gemm {out['gemm_isa']}) | {out['peer']}")
print(f"{out['sentences']} SQuAD sentences, mean {out['mean_tokens']:.1f} tokens; median of {rounds} alternating rounds")
print(f"{'batch':>5} | {'engram sent/s':>13} {'peer sent/s':>11} {'ratio':>6} | {'engram p50 ms':>13} {'peer p50 ms':>11}")
for r in rows:
    print(f"{r['batch']:5d} | {r['engram_sentences_per_s']:13.1f} {r['peer_sentences_per_s']:11.1f} {r['ratio']:5.2f}x | "
          f"{r['engram_p50_ms']:13.2f} {r['peer_p50_ms']:11.2f}")
PY
