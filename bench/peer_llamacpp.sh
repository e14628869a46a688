#!/usr/bin/env bash
# Prefill and decode tokens/s, engram vs llama.cpp (llama-cpp-python 0.3.36, built from source
# for this CPU), same GGUF, same text, same thread count, in one run on one machine; then the
# peak RSS of `engram generate` at a 2048-token context against model file + KV cache bytes.
# Contexts are interleaved (engram, llama.cpp, engram, ...) so drift on a shared machine hits both.
#   Usage: bench/peer_llamacpp.sh [--threads N] [--ctx 512,2048,8192] [--tokens T] [--model F]
#            [--build-dir DIR] [--text FILE] [--repeat R] [--json]
# Definitions (both engines): prefill at C = the first C tokens of the text on a fresh context
# (n_ctx = C), C / seconds; decode at C = prefill the first C - T tokens, then feed tokens
# C - T .. C - 1 one at a time, T / seconds of those steps. llama.cpp keeps llama-cpp-python's
# defaults (n_batch = n_ubatch = 512, f16 KV cache, flash attention off). Medians of 3 runs up to
# 2048 tokens, 1 run above (8192-token prefill takes about a minute), unless --repeat R.
# Text: --text FILE, default the essays $ENGRAM_SHARED_DATA/haystack/pg_essays/*.txt (sorted,
# concatenated); both engines tokenize the same file with the same tokenizer and repeat it when
# it is too short. --json prints one JSON object instead of the table.
# Needs a build ($BUILD/bin/engram) and llama-cpp-python==0.3.36: .venv-peers when it has it
# (scripts/goldens/setup_peers.sh), else .venv-bench-llamacpp is made (a source build, several
# minutes). On CPUs that report AMX, the -DGGML_NATIVE=ON build dies with SIGILL where the kernel
# does not enable AMX tiles (guests), so there the venv is built with AMX off (the line below; see
# docs/benchmarks.md). CMAKE_ARGS in the environment overrides both.
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "peer_llamacpp: error: $*" >&2; exit 1; }

threads=2 ctxs=512,2048,8192 tokens=32 build=build text="" repeat="" json=0
models="${ENGRAM_MODELS_DIR:-$HOME/.cache/engram/models}"
model="$models/SmolLM2-135M-Instruct.Q4_1.gguf"
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --ctx) ctxs="$2"; shift 2 ;;
    --tokens) tokens="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --build-dir) build="$2"; shift 2 ;;
    --text) text="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --json) json=1; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "peer_llamacpp: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive integer, got '$threads'"
[[ "$tokens" =~ ^[1-9][0-9]*$ ]] || die "--tokens must be a positive integer, got '$tokens'"
[[ "$ctxs" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--ctx must be comma-separated integers, got '$ctxs'"
[[ -z "$repeat" || "$repeat" =~ ^[1-9][0-9]*$ ]] || die "--repeat must be a positive integer, got '$repeat'"
engram="$build/bin/engram"
[[ -x "$engram" ]] || die "'$engram' is missing; build engram first (cmake --build $build --target engram) or pass --build-dir"
[[ -f "$model" ]] || die "model '$model' is missing; run scripts/fetch_models.sh"

# llama-cpp-python 0.3.36: .venv-peers if it has it, else a venv of our own.
source bench/peer_venv.sh
venv=.venv-peers
if ! has_llamacpp "$venv" gguf; then
  venv=.venv-bench-llamacpp
  has_llamacpp "$venv" gguf ||
    install_llamacpp "$venv" llama-cpp-python==0.3.36 gguf==0.19.0 numpy==2.4.6
fi
py="$venv/bin/python"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [ -z "$text" ]; then
  shared="${ENGRAM_SHARED_DATA:-$(pwd)/../shared/data}"
  mapfile -t essays < <(ls "$shared"/haystack/pg_essays/*.txt 2>/dev/null | LC_ALL=C sort)
  [ "${#essays[@]}" -gt 0 ] || die "no essays under '$shared/haystack/pg_essays' (set ENGRAM_SHARED_DATA or pass --text FILE)"
  text="$work/essays.txt"
  cat "${essays[@]}" > "$text"
fi
[[ -s "$text" ]] || die "text file '$text' is missing or empty"

reps_for() { if [ -n "$repeat" ]; then echo "$repeat"; elif [ "$1" -le 2048 ]; then echo 3; else echo 1; fi; }
run() {  # run LABEL CMD...: stdout to the caller, a clear error with the tail of stderr on failure
  local label="$1"; shift
  if ! "$@" 2>"$work/err"; then
    echo "peer_llamacpp: error: $label failed: $*" >&2; tail -5 "$work/err" >&2; exit 1
  fi
}
IFS=, read -ra list <<< "$ctxs"
for c in "${list[@]}"; do
  [ "$c" -gt "$tokens" ] || die "context $c is not larger than --tokens $tokens"
  r=$(reps_for "$c")
  [ -t 2 ] && echo "peer_llamacpp: ctx $c ($r run(s) each) ..." >&2
  ep=$(run "engram bench prefill" "$engram" bench prefill -m "$model" --ctx "$c" --threads "$threads" --text "$text" --repeat "$r" --json)
  lp=$(run "llama.cpp prefill" "$py" bench/peer_llamacpp.py --what prefill --model "$model" --text "$text" --ctx "$c" --threads "$threads" --repeat "$r")
  ed=$(run "engram bench decode" "$engram" bench decode -m "$model" --ctx "$c" --tokens "$tokens" --threads "$threads" --text "$text" --repeat "$r" --json)
  ld=$(run "llama.cpp decode" "$py" bench/peer_llamacpp.py --what decode --model "$model" --text "$text" --ctx "$c" --tokens "$tokens" --threads "$threads" --repeat "$r")
  # one compact line per engine run, read back below
  for j in "$ep" "$lp" "$ed" "$ld"; do "$py" -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1])))' "$j"; done >> "$work/results.jsonl" \
    || die "could not parse the JSON of the runs at ctx $c"
done

# Peak RSS of generate at a 2048-token context (prompt truncated to fit, 16 new tokens). The
# prompt is the text repeated to at least 64 KiB, well over 2048 tokens.
prompt="$work/prompt.txt"
while [ "$(stat -c %s "$prompt" 2>/dev/null || echo 0)" -lt 65536 ]; do cat "$text" >> "$prompt"; done
[ -t 2 ] && echo "peer_llamacpp: peak RSS of engram generate --ctx 2048 ..." >&2
if ! /usr/bin/time -f '%M' -o "$work/rss" "$engram" generate -m "$model" --ctx 2048 --truncate \
    -f "$prompt" -n 16 --temp 0 --threads "$threads" >/dev/null 2>"$work/err"; then
  echo "peer_llamacpp: error: engram generate --ctx 2048 failed:" >&2; tail -5 "$work/err" >&2; exit 1
fi
rss_kb=$(tail -1 "$work/rss")

machine="$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
"$py" - "$work/results.jsonl" "$rss_kb" "$model" "$machine" "$threads" "$tokens" "$json" "$text" "$repeat" <<'PY'
import json, os, sys
from gguf import GGUFReader
path, rss_kb, model, machine, threads, tokens, as_json, text, repeat = sys.argv[1:]
runs = [json.loads(l) for l in open(path)]
rows = []
for ep, lp, ed, ld in zip(*[iter(runs)] * 4):
    e_pre, l_pre = ep["results"][0]["prefill_tokens_per_s"], lp["tokens_per_s"]
    e_dec, l_dec = ed["results"][0]["decode_tokens_per_s"], ld["tokens_per_s"]
    rows.append({"ctx": lp["ctx"], "runs": lp["runs"],
                 "engram_prefill_tokens_per_s": e_pre, "llamacpp_prefill_tokens_per_s": l_pre,
                 "prefill_ratio": e_pre / l_pre,
                 "engram_decode_tokens_per_s": e_dec, "llamacpp_decode_tokens_per_s": l_dec,
                 "decode_ratio": e_dec / l_dec,
                 "engram_decode_ms_per_token": ed["results"][0]["decode_ms_per_token"]})
r = GGUFReader(model)
arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
get = lambda k: int(r.fields[f"{arch}.{k}"].parts[-1][0])
n_layer, n_embd, n_head = get("block_count"), get("embedding_length"), get("attention.head_count")
n_kv = get("attention.head_count_kv")
kv = 2 * n_layer * n_kv * (n_embd // n_head) * 2048 * 2  # f16 keys and values
size = os.path.getsize(model)
rss = int(rss_kb) * 1024
first = runs[-3] if len(runs) >= 4 else {}  # llama.cpp prefill at the last context
out = {"bench": "peer_llamacpp", "model": os.path.basename(model), "machine": machine,
       "threads": int(threads), "decode_tokens": int(tokens),
       "repeats": f"{repeat} per context" if repeat else "median of 3 up to 2048 tokens, 1 above",
       "engram_commit": runs[0]["commit"] if runs else None,
       "llama_cpp": first.get("peer"), "llama_cpp_settings": first.get("settings"),
       "text": os.path.basename(text), "text_tokens": first.get("text_tokens"), "results": rows,
       "peak_rss": {"command": "engram generate --ctx 2048 --truncate -n 16 --temp 0",
                    "rss_mib": rss / 2**20, "model_file_mib": size / 2**20, "kv_cache_mib": kv / 2**20,
                    "ratio": rss / (size + kv), "target": 1.3}}
if as_json == "1":
    print(json.dumps(out, indent=2))
    sys.exit(0)
s = out["llama_cpp_settings"] or {}
print(f"machine: {machine} | threads {threads} | engram {out['engram_commit']} | {out['llama_cpp']}")
print(f"model: {out['model']} | text: {out['text_tokens']} tokens | decode: {tokens} steps | {out['repeats']}")
print(f"llama.cpp settings (ctx {s.get('n_ctx')}): n_batch {s.get('n_batch')}, n_ubatch {s.get('n_ubatch')} (min(512, ctx)), "
      f"KV {s.get('type_k')}/{s.get('type_v')}, flash attention {s.get('flash_attn')}")
print(f"{'ctx':>6} | {'engram pre/s':>12} {'llama.cpp pre/s':>15} {'ratio':>6} | "
      f"{'engram dec/s':>12} {'llama.cpp dec/s':>15} {'ratio':>6}")
for x in rows:
    print(f"{x['ctx']:6d} | {x['engram_prefill_tokens_per_s']:12.1f} {x['llamacpp_prefill_tokens_per_s']:15.1f} "
          f"{x['prefill_ratio']:5.2f}x | {x['engram_decode_tokens_per_s']:12.1f} "
          f"{x['llamacpp_decode_tokens_per_s']:15.1f} {x['decode_ratio']:5.2f}x")
p = out["peak_rss"]
print(f"peak RSS of engram generate at ctx 2048: {p['rss_mib']:.1f} MiB; model file {p['model_file_mib']:.1f} MiB + "
      f"KV cache {p['kv_cache_mib']:.1f} MiB = {p['model_file_mib'] + p['kv_cache_mib']:.1f} MiB; "
      f"ratio {p['ratio']:.2f} (target <= 1.3)")
PY
