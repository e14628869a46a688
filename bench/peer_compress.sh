#!/usr/bin/env bash
# Prompt compression against its peer: LLMLingua and LongLLMLingua (pip llmlingua 0.2.2,
# bench/peer_llmlingua.py) with engram's default generator as their scorer (the same GGUF,
# converted for transformers by bench/convert_scorer.py), on the cases `engram eval compress`
# builds (SQuAD articles, L-Eval NQ pages), scored by engram with the same answer-survival and F1
# code as its own methods, in one run. Prints engram's JSON result.
#   Usage: bench/peer_compress.sh [--limit N] [--ratios 2,4,8] [--threads N] [--out DIR]
#            [--methods llmlingua,longllmlingua] [--no-f1] [--split all|even|odd] [--build-dir DIR]
# Defaults: --limit 20 (questions per dataset), ratios 2,4,8, 2 threads, both peer methods,
# --split all (odd: the documents engram's defaults were not chosen on), --out a new directory
# under /tmp (kept). DIR gets cases.jsonl (the cases), peer.jsonl (the
# peer's compressed contexts and latencies) and result.json. --no-f1 skips engram's answering
# (survival and latency only). The data: $ENGRAM_SHARED_DATA (default ../shared/data).
# Needs a build ($BUILD/bin/engram), the default generator (scripts/fetch_models.sh) and the
# .venv-bench-llmlingua venv, installed here when missing (git-ignored; torch's CUDA wheels,
# ~3 GB). The peer is slow on CPU (float32 scoring of every token): minutes per case.
# llmlingua aims its rate at GPT-3.5 (tiktoken cl100k) tokens and overshoots or undershoots it;
# result.json counts every method's tokens with the generator's tokenizer, so compare
# answer_survival / f1 together with the tokens_out each method actually kept.
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "peer_compress: error: $*" >&2; exit 1; }

limit=20 ratios=2,4,8 threads=2 out="" methods=llmlingua,longllmlingua f1=1 build=build split=all
while [ $# -gt 0 ]; do
  case "$1" in
    --limit) limit="$2"; shift 2 ;;
    --ratios) ratios="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --methods) methods="$2"; shift 2 ;;
    --no-f1) f1=0; shift ;;
    --split) split="$2"; shift 2 ;;
    --build-dir) build="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "peer_compress: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$limit" =~ ^[0-9]+$ ]] || die "--limit must be a non-negative integer (0: all), got '$limit'"
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive integer, got '$threads'"
[[ "$ratios" =~ ^[0-9.]+(,[0-9.]+)*$ ]] || die "--ratios must be numbers separated by commas, got '$ratios'"
shared="${ENGRAM_SHARED_DATA:-$(pwd)/../shared/data}"
squad="$shared/squad/dev-v1.1.shared.json"
nq="$shared/leval/natural_question.shared.jsonl"
models="${ENGRAM_MODELS_DIR:-$HOME/.cache/engram/models}"
gguf="$models/SmolLM2-135M-Instruct.Q4_1.gguf"
scorer="$models/SmolLM2-135M-Instruct-Q4_1-hf"
engram="$build/bin/engram"
[[ -x "$engram" ]] || die "'$engram' is missing; build engram first (cmake --build $build --target engram) or pass --build-dir"
[[ -f "$gguf" ]] || die "model '$gguf' is missing; run scripts/fetch_models.sh"
[[ -f "$squad" ]] || die "SQuAD file '$squad' is missing (set ENGRAM_SHARED_DATA)"
[[ -f "$nq" ]] || die "L-Eval NQ file '$nq' is missing (set ENGRAM_SHARED_DATA)"
[[ -n "$out" ]] || out="$(mktemp -d /tmp/peer_compress.XXXXXX)"
mkdir -p "$out" || die "cannot create '$out'"

# (a) The peer's venv (git-ignored).
source bench/peer_venv.sh
venv=.venv-bench-llmlingua
has_llmlingua "$venv" || install_llmlingua "$venv"
py="$venv/bin/python"

# (b) The scorer: the GGUF as a transformers directory (skipped when it is there).
"$py" bench/convert_scorer.py --gguf "$gguf" --out "$scorer" || die "bench/convert_scorer.py failed"

# (c) The cases, as engram builds them (the cheap 'first' method with --no-f1, output dropped).
data=(--squad "$squad" --nq "$nq" --limit "$limit" --ratios "$ratios" --threads "$threads"
  --split "$split")
echo "peer_compress: writing the cases to $out/cases.jsonl" >&2
"$engram" eval compress "${data[@]}" --methods first --no-f1 --dump-cases "$out/cases.jsonl" \
  > /dev/null 2> "$out/cases.err" || { tail -5 "$out/cases.err" >&2; die "engram eval compress --dump-cases failed"; }

# (d) The peer compresses them.
"$py" bench/peer_llmlingua.py --cases "$out/cases.jsonl" --out "$out/peer.jsonl" --model "$scorer" \
  --ratios "$ratios" --methods "$methods" --threads "$threads" || die "bench/peer_llmlingua.py failed"

# (e) engram's methods and the peer's contexts, scored by the same code in one run.
noflag=(); [[ "$f1" == 1 ]] || noflag=(--no-f1)
echo "peer_compress: engram eval compress --peer $out/peer.jsonl" >&2
"$engram" eval compress "${data[@]}" "${noflag[@]}" --peer "$out/peer.jsonl" --json \
  > "$out/result.json" 2> "$out/eval.err" || { tail -5 "$out/eval.err" >&2; die "engram eval compress --peer failed"; }
cat "$out/result.json"
echo "peer_compress: results in $out" >&2
