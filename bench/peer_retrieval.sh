#!/usr/bin/env bash
# SQuAD recall among the L-Eval distractors: engram's hybrid search (`engram eval retrieval`)
# against the hybrid retriever a user wires by hand today (bench/peer_retrieval.py: rank-bm25 +
# sentence-transformers all-MiniLM-L6-v2 + faiss-cpu IndexFlatIP, fused as engram fuses before
# its rescoring), on the same documents and questions, in one run on one machine. The peer runs
# twice: BM25 unstemmed (as rank-bm25 is usually used) and over PyStemmer's english stems
# (engram's default). Prints recall@1/5/20, MRR@10 and query p50/p99 of each.
#   Usage: bench/peer_retrieval.sh [--squad FILE] [--build-dir DIR] [--threads N] [--json]
# Defaults: the SQuAD dev file and the L-Eval .jsonl files under $ENGRAM_SHARED_DATA, build/, 2
# threads. Needs a build ($BUILD/bin/engram) and the models (scripts/fetch_models.sh); the peers
# are installed into .venv-bench-retrieval (git-ignored) when missing (torch comes with
# sentence-transformers: about 3 GB).
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "peer_retrieval: error: $*" >&2; exit 1; }

shared="${ENGRAM_SHARED_DATA:-$(pwd)/../shared/data}"
squad="$shared/squad/dev-v1.1.shared.json"
build=build threads=2 json=0
embedder="${ENGRAM_MODELS_DIR:-$HOME/.cache/engram/models}/all-MiniLM-L6-v2"
while [ $# -gt 0 ]; do
  case "$1" in
    --squad) squad="$2"; shift 2 ;;
    --build-dir) build="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --json) json=1; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "peer_retrieval: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive integer, got '$threads'"
engram="$build/bin/engram"
[[ -x "$engram" ]] || die "no engram at '$engram' (build first, or pass --build-dir)"
[[ -f "$squad" ]] || die "SQuAD file '$squad' is missing (set ENGRAM_SHARED_DATA or pass --squad)"
[[ -d "$embedder" ]] || die "no embedder at '$embedder' (run scripts/fetch_models.sh)"
shopt -s nullglob
distractors=("$shared"/leval/*.jsonl)
[ ${#distractors[@]} -gt 0 ] || die "no L-Eval .jsonl files under '$shared/leval'"

venv=.venv-bench-retrieval
py="$venv/bin/python"
if ! { [[ -x "$py" ]] && "$py" -c "import faiss, rank_bm25, sentence_transformers, Stemmer" 2>/dev/null; }; then
  echo "peer_retrieval: installing the peers into $venv" >&2
  [[ -x "$py" ]] || python3 -m venv "$venv" || die "python3 -m venv failed"
  "$venv/bin/pip" install --quiet --disable-pip-version-check torch==2.15.0 \
    sentence-transformers==6.2.0 faiss-cpu==1.15.1 rank-bm25==0.2.2 PyStemmer==2.2.0.3 \
    numpy==2.4.6 || die "pip could not install the peers into $venv"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$engram" eval retrieval --squad "$squad" --distractors "${distractors[@]}" --threads "$threads" \
  --precision f32 --json > "$work/engram.json" || die "engram eval retrieval failed"
for stem in "" --stem; do
  "$py" bench/peer_retrieval.py --squad "$squad" --distractors "${distractors[@]}" \
    --model "$embedder" --threads "$threads" $stem > "$work/peer$stem.json" \
    || die "the peer failed"
done
"$py" - "$work" "$json" <<'EOF'
import json, sys
work, as_json = sys.argv[1], sys.argv[2] == "1"
rows = {"engram": json.load(open(f"{work}/engram.json")),
        "peer (bm25 unstemmed)": json.load(open(f"{work}/peer.json")),
        "peer (bm25 stemmed)": json.load(open(f"{work}/peer--stem.json"))}
if as_json:
    print(json.dumps(rows))
    sys.exit()
print(f"{'system':24} {'mode':7} {'r@1':>6} {'r@5':>6} {'r@20':>6} {'mrr@10':>7} {'p50 ms':>7} {'p99 ms':>7}")
for name, r in rows.items():
    for mode in ("bm25", "dense", "hybrid"):
        m = r[mode]
        print(f"{name:24} {mode:7} {m['recall@1']:6.3f} {m['recall@5']:6.3f} {m['recall@20']:6.3f} "
              f"{m['mrr@10']:7.3f} {m['query_ms_p50']:7.2f} {m['query_ms_p99']:7.2f}")
EOF
