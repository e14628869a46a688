#!/usr/bin/env bash
# Load benchmark: engram serve against llama.cpp's OpenAI-compatible server
# (`python -m llama_cpp.server` from llama-cpp-python 0.3.36), same GGUF, same threads and
# context, driven by one client (bench/load_server.py) with 1, 8 and 32 concurrent streamed chat
# completions (short prompts, 64 new tokens, greedy), interleaved; then N concurrent agent
# sessions × T turns on engram alone. Prints both servers' figures from one run.
#   Usage: bench/load_server.sh [--concurrency 1,8,32] [--rounds R] [--max-tokens N]
#            [--threads N] [--ctx N] [--sessions N] [--turns T] [--build-dir DIR] [--json]
# Defaults: 1,8,32; 1 round; 64 tokens; 2 threads; ctx 2048 (per sequence); 32 sessions × 20
# turns (0 skips them). engram runs with --max-sequences 32. llama.cpp's server runs with
# --interrupt_requests False: by default a new request cuts off the one being streamed, which
# would count as failed requests rather than a slower peer. Needs a build ($BUILD/bin/engram);
# llama-cpp-python[server] is built into .venv-bench-llamacpp on first use (several minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "load_server: error: $*" >&2; exit 1; }

concurrency=1,8,32 rounds=1 tokens=64 threads=2 ctx=2048 sessions=32 turns=20 build=build json=()
models="${ENGRAM_MODELS_DIR:-$HOME/.cache/engram/models}"
model="$models/SmolLM2-135M-Instruct.Q4_1.gguf"
while [ $# -gt 0 ]; do
  case "$1" in
    --concurrency) concurrency="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --max-tokens) tokens="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --ctx) ctx="$2"; shift 2 ;;
    --sessions) sessions="$2"; shift 2 ;;
    --turns) turns="$2"; shift 2 ;;
    --build-dir) build="$2"; shift 2 ;;
    --json) json=(--json); shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
for v in rounds tokens threads ctx sessions turns; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "--$v must be a non-negative integer, got '${!v}'"
done
[[ "$concurrency" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--concurrency must be comma-separated positive integers"
engram="$build/bin/engram"
[[ -x "$engram" ]] || die "'$engram' is missing; build engram first or pass --build-dir"
[[ -f "$model" ]] || die "model '$model' is missing; run scripts/fetch_models.sh"

source bench/peer_venv.sh
venv=.venv-bench-llamacpp
has_llamacpp "$venv" llama_cpp.server uvicorn ||
  install_llamacpp "$venv" 'llama-cpp-python[server]==0.3.36' numpy==2.4.6

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {  # URL PID NAME LOG
  for _ in $(seq 1 240); do
    curl -s -o /dev/null "$1" && return 0
    kill -0 "$2" 2>/dev/null || { cat "$4" >&2; die "$3 exited before it answered"; }
    sleep 0.5
  done
  cat "$4" >&2; die "$3 did not answer $1 within 120 s"
}

key="load-bench-key-$(date +%s)-$$"
echo "$key bench" > "$work/keys"
engram_port="$(free_port)"
"$engram" serve --port "$engram_port" --data-dir "$work/engram-data" --api-keys "$work/keys" \
  --threads "$threads" --ctx "$ctx" --max-sequences 32 --max-queue 1024 \
  -m "$model" 2> "$work/engram.log" &
pids+=($!); engram_pid=$!
peer_port="$(free_port)"
"$venv/bin/python" -m llama_cpp.server --model "$model" --n_threads "$threads" \
  --n_threads_batch "$threads" --n_ctx "$ctx" --host 127.0.0.1 --port "$peer_port" \
  --interrupt_requests False \
  > "$work/peer.log" 2>&1 &
pids+=($!); peer_pid=$!
wait_http "http://127.0.0.1:$engram_port/health" "$engram_pid" "engram serve" "$work/engram.log"
wait_http "http://127.0.0.1:$peer_port/v1/models" "$peer_pid" "llama_cpp.server" "$work/peer.log"

echo "load_server: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; engram $(git rev-parse --short HEAD), llama-cpp-python 0.3.36; $threads threads, ctx $ctx" >&2
python3 bench/load_server.py \
  --server "engram=http://127.0.0.1:$engram_port,$key,$engram_pid" \
  --server "llama.cpp=http://127.0.0.1:$peer_port,,$peer_pid" \
  --concurrency "$concurrency" --rounds "$rounds" --max-tokens "$tokens" \
  --sessions "$sessions" --turns "$turns" "${json[@]}"
