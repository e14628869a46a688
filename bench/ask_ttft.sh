#!/usr/bin/env bash
# Time to first token of `engram ask --mode long` on one long document, cold and cached:
# the first question runs in a fresh data dir (prefill, key index, KV file stored); each later
# question is a new process that loads the document's KV cache from <data-dir>/kv.
#   Usage: bench/ask_ttft.sh [--bytes N] [--questions Q] [--attention POLICY] [--threads N]
#            [--build-dir DIR] [--json]
# Document: the essays $ENGRAM_SHARED_DATA/haystack/pg_essays/*.txt (sorted, concatenated), cut
# to --bytes (default 30000: about 7,000 tokens, an 8k context with the question and answer).
# Prints one JSON object: cold and cached TTFT (median of the cached ones) and their ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "ask_ttft: error: $*" >&2; exit 1; }

bytes=30000 questions=4 attention=retrieval threads=0 build=build json=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bytes) bytes="$2"; shift 2 ;;
    --questions) questions="$2"; shift 2 ;;
    --attention) attention="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --build-dir) build="$2"; shift 2 ;;
    --json) json=1; shift ;;
    *) die "unknown argument '$1' (see the header of $0)" ;;
  esac
done
engram="$build/bin/engram"
[ -x "$engram" ] || die "no $engram; build first (scripts/test.sh or cmake --build $build)"
shared="${ENGRAM_SHARED_DATA:-$(pwd)/../shared/data}"
[ -d "$shared/haystack/pg_essays" ] || die "no essays under $shared; set ENGRAM_SHARED_DATA"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat "$shared"/haystack/pg_essays/*.txt | head -c "$bytes" > "$work/essays.txt" || true  # cat: SIGPIPE
asks=("What does the author say about startups?" "Who is the author?"
      "What is the advice about hiring?" "What is said about Lisp?"
      "What makes a good essay?" "What is the main argument?")
for ((i = 0; i <= questions; i++)); do
  "$engram" --data-dir "$work/data" --log-level warn ask --mode long --attention "$attention" \
    --threads "$threads" --max-tokens 16 --json "$work/essays.txt" "${asks[$((i % 6))]}" \
    > "$work/answer$i.json"
done
python3 - "$work" "$questions" "$json" "$attention" <<'PY'
import json, statistics, sys
work, n, as_json, attention = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
runs = [json.load(open(f"{work}/answer{i}.json"))["timing"] for i in range(n + 1)]
cold, cached = runs[0], runs[1:]
assert not cold["cache_hit"] and all(r["cache_hit"] for r in cached), "cache not used"
out = {"attention": attention, "document_tokens": cold["tokens_read"],
       "cold": {"ttft_ms": cold["ttft_ms"], "prefill_ms": cold["prefill_ms"],
                "total_ms": cold["total_ms"]},
       "cached": {"ttft_ms_median": statistics.median(r["ttft_ms"] for r in cached),
                  "total_ms_median": statistics.median(r["total_ms"] for r in cached),
                  "cache_load_ms_median": statistics.median(r["cache_load_ms"] for r in cached),
                  "questions": len(cached)}}
out["ratio_cached_to_cold"] = out["cached"]["ttft_ms_median"] / cold["ttft_ms"]
if as_json:
    print(json.dumps(out, indent=2))
else:
    print(f"{out['document_tokens']} tokens, {attention}: cold TTFT {cold['ttft_ms']:.0f} ms "
          f"(prefill {cold['prefill_ms']:.0f} ms); cached TTFT {out['cached']['ttft_ms_median']:.0f} ms "
          f"(load {out['cached']['cache_load_ms_median']:.0f} ms), ratio {out['ratio_cached_to_cold']:.3f}; "
          f"whole answer (16 tokens) cold {cold['total_ms']:.0f} ms, cached {out['cached']['total_ms_median']:.0f} ms")
PY
