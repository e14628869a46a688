#!/usr/bin/env bash
# SQuAD answer quality and seconds per question: engram's rag mode (`engram eval qa --modes rag`)
# against the RAG a user wires by hand today (bench/peer_qa.py: llama-cpp-python 0.3.36 +
# sentence-transformers all-MiniLM-L6-v2 + faiss-cpu IndexFlatIP + rank-bm25, fused as engram
# fuses), on the same questions, same GGUF, same context, threads, k, prompt and answer limit,
# greedy, in one run on one machine. Prints both (EM, F1, s/question, and the ratio).
#   Usage: bench/peer_qa.sh [--squad FILE] [--limit N] [--documents M] [--split all|even|odd]
#            [--k K] [--ctx N] [--threads N] [--max-answer-tokens N] [--model F]
#            [--build-dir DIR] [--repeat R] [--json]
# Defaults: the SQuAD dev file under $ENGRAM_SHARED_DATA, --limit 20, all documents, k 8,
# ctx 8192, 2 threads, 64 answer tokens, the default generator, 1 repeat. With --repeat R the
# two run alternately R times (engram, peer, engram, ...) so drift on a shared machine hits
# both; s/question is then the median of the R runs (answers are greedy: the same each time). The questions are chosen by
# `engram eval qa`'s rule (question 0 of every article, then question 1, ...); the script checks
# that both sides asked the same ids. s/question is retrieval + generation; model loading and
# indexing are reported apart (the peer's index_s, engram's ingest_s).
# Needs a build ($BUILD/bin/engram) and the peers: .venv-peers when it has them
# (scripts/goldens/setup_peers.sh), else what is missing is installed into it (llama-cpp-python is
# a source build of several minutes; on CPUs that report AMX it is built with AMX off, as in
# bench/peer_llamacpp.sh). CMAKE_ARGS in the environment overrides that.
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "peer_qa: error: $*" >&2; exit 1; }

shared="${ENGRAM_SHARED_DATA:-$(pwd)/../shared/data}"
squad="$shared/squad/dev-v1.1.shared.json"
limit=20 documents=0 split=all k=8 ctx=8192 threads=2 answer=64 build=build json=0 repeat=1
models="${ENGRAM_MODELS_DIR:-$HOME/.cache/engram/models}"
model="$models/SmolLM2-135M-Instruct.Q4_1.gguf"
embedder="$models/all-MiniLM-L6-v2"
while [ $# -gt 0 ]; do
  case "$1" in
    --squad) squad="$2"; shift 2 ;;
    --limit) limit="$2"; shift 2 ;;
    --documents) documents="$2"; shift 2 ;;
    --split) split="$2"; shift 2 ;;
    --k) k="$2"; shift 2 ;;
    --ctx) ctx="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --max-answer-tokens) answer="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --build-dir) build="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --json) json=1; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "peer_qa: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for v in limit documents k ctx threads answer repeat; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "--${v/answer/max-answer-tokens} must be a non-negative integer, got '${!v}'"
done
[[ "$limit" -gt 0 ]] || die "--limit must be positive (the peer runs every question it is given)"
[[ "$threads" -gt 0 ]] || die "--threads must be positive (the peer needs a number)"
[[ "$repeat" -gt 0 ]] || die "--repeat must be positive"
[[ "$split" =~ ^(all|even|odd)$ ]] || die "--split must be all, even or odd, got '$split'"
engram="$build/bin/engram"
[[ -x "$engram" ]] || die "'$engram' is missing; build engram first (cmake --build $build --target engram) or pass --build-dir"
[[ -f "$model" ]] || die "model '$model' is missing; run scripts/fetch_models.sh"
[[ -f "$embedder/model.safetensors" ]] || die "embedder '$embedder' is missing; run scripts/fetch_models.sh"
[[ -f "$squad" ]] || die "SQuAD file '$squad' is missing (set ENGRAM_SHARED_DATA or pass --squad)"

# The peers, in .venv-peers (git-ignored).
source bench/peer_venv.sh
venv=.venv-peers
if ! has_llamacpp "$venv" sentence_transformers faiss rank_bm25; then
  has_llamacpp "$venv" || install_llamacpp "$venv" llama-cpp-python==0.3.36 numpy==2.4.6
  echo "peer_qa: installing sentence-transformers, faiss-cpu, rank-bm25 into $venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check torch==2.15.0 transformers==5.24.0 \
    sentence-transformers==6.2.0 faiss-cpu==1.15.1 rank-bm25==0.2.2 \
    || die "pip could not install the retrieval peers into $venv"
fi
py="$venv/bin/python"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
common=(--squad "$squad" --limit "$limit" --documents "$documents" --split "$split" --k "$k"
        --ctx "$ctx" --threads "$threads" --max-answer-tokens "$answer")
for r in $(seq 1 "$repeat"); do
  [ -t 2 ] && echo "peer_qa: run $r/$repeat: engram eval qa --modes rag ..." >&2
  if ! "$engram" eval qa "${common[@]}" --modes rag -m "$model" --json > "$work/engram$r.json" 2> "$work/err"; then
    echo "peer_qa: error: engram eval qa failed:" >&2; tail -5 "$work/err" >&2; exit 1
  fi
  [ -t 2 ] && echo "peer_qa: run $r/$repeat: the hand-wired peer ..." >&2
  if ! "$py" bench/peer_qa.py "${common[@]}" --model "$model" --embedder "$embedder" > "$work/peer$r.json" 2> "$work/err"; then
    echo "peer_qa: error: bench/peer_qa.py failed:" >&2; tail -5 "$work/err" >&2; exit 1
  fi
done

machine="$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
"$py" - "$work" "$repeat" "$json" "$machine" <<'PY'
import json, statistics, sys
work, repeat = sys.argv[1], int(sys.argv[2])
as_json, machine = sys.argv[3] == "1", sys.argv[4]
e_runs = [json.load(open(f"{work}/engram{r}.json")) for r in range(1, repeat + 1)]
p_runs = [json.load(open(f"{work}/peer{r}.json")) for r in range(1, repeat + 1)]
e_all, p = e_runs[0], dict(p_runs[0])
e = dict(e_all["modes"]["rag"])
e_sq = [x["modes"]["rag"]["seconds_per_question"] for x in e_runs]
p_sq = [x["seconds_per_question"] for x in p_runs]
e["seconds_per_question"], p["seconds_per_question"] = statistics.median(e_sq), statistics.median(p_sq)
ids = e_all["datasets"]["squad"]["question_ids"]
if ids != p["question_ids"]:
    sys.exit("peer_qa: error: engram and the peer asked different questions")
out = {"bench": "peer_qa", "machine": machine, "engram_commit": e_all["commit"],
       "model": e_all["model"], "questions": len(ids), "config": e_all["config"],
       "engram": {"squad_em": e["squad_em"], "squad_f1": e["squad_f1"],
                  "seconds_per_question": e["seconds_per_question"],
                  "tokens_per_answer": e["tokens_per_answer"], "ingest_s": e_all["ingest_s"]},
       "peer": {k: p[k] for k in ("peer", "squad_em", "squad_f1", "seconds_per_question",
                                  "retrieve_seconds_per_question", "tokens_per_answer", "load_s",
                                  "index_s", "chunks")},
       "speed_ratio": p["seconds_per_question"] / e["seconds_per_question"],
       "runs": {"repeat": repeat, "engram_seconds_per_question": e_sq,
                "peer_seconds_per_question": p_sq},
       "examples": {"engram": e["examples"]["squad"], "peer": p["examples"]}}
if as_json:
    print(json.dumps(out, indent=2, ensure_ascii=False))
    sys.exit(0)
print(f"machine: {machine} | engram {out['engram_commit']} | model {out['model']} | "
      f"{len(ids)} SQuAD questions, k {e_all['config']['k']}, ctx {e_all['config']['ctx']}")
print(f"peer: {p['peer']}")
print(f"{'':8} {'EM':>6} {'F1':>6} {'s/question':>11} {'prompt tokens':>14}")
for name, r in (("engram", out["engram"]), ("peer", out["peer"])):
    print(f"{name:8} {r['squad_em']:6.3f} {r['squad_f1']:6.3f} {r['seconds_per_question']:11.2f} "
          f"{r['tokens_per_answer']:14.0f}")
print(f"speed: engram answers {out['speed_ratio']:.2f}x as fast (peer s/question / engram s/question"
      + (f"; medians of {repeat} alternating runs)" if repeat > 1 else ")"))
PY
