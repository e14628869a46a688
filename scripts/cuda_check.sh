#!/usr/bin/env bash
# Everything engram's GPU path must show on a real GPU, in one device call of a few minutes:
# the CUDA kernels against their CPU references (ctest label `cuda`: engram_cuda_tests), the
# forward pass against the CPU and llama.cpp's goldens, and the GPU benchmarks (kernel
# bandwidth, decode at 512 / 8k / 32k with a synthetic cache past the model's window, batched
# decode of 32 sequences, prefill), ending with one summary.
#
# The device machine has nvcc but none of engram's other dependencies (RocksDB, FAISS, ... come
# from Debian packages, and it reaches no network), and a call carries at most 64 MiB, less than
# the default model. So the build happens here, for sm_90 (H100/H200), and travels with the
# shared libraries it needs; the model travels in two halves over two calls into a warm machine:
#
#   here:    bash scripts/cuda_check.sh prepare           # build-cuda-check/, .cuda-check/
#   device:  run(carry=[".cuda-check/model-1"], "bash scripts/cuda_check.sh stash")
#   device:  run(carry=[".cuda-check/model-2"], "bash scripts/cuda_check.sh stash")
#   device:  run(carry=[".cuda-check/bin"], "bash scripts/cuda_check.sh run", timeout_s=480)
#
# (the calls must follow each other within the machine's 30 s warm window; without the model the
# run still checks the kernels, the tiny models and the synthetic benchmarks.) `run` writes its
# logs and JSON under $OUT (or ./cuda-check-out) and prints the summary last.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
stage="$root/.cuda-check"
model_dir="$stage/models"  # kept between calls on a warm machine (ignored by git)
model_name=SmolLM2-135M-Instruct.Q4_1.gguf

prepare() {
  local build="$root/build-cuda-check"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DENGRAM_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 ${CMAKE_CXX_COMPILER_LAUNCHER:+-DCMAKE_CXX_COMPILER_LAUNCHER=ccache}
  cmake --build "$build" -j"$(nproc)" --target engram engram_cuda_tests engram_cuda_kernels_bench
  rm -rf "$stage/bin" "$stage/model-1" "$stage/model-2"
  mkdir -p "$stage/bin/lib" "$stage/model-1" "$stage/model-2"
  echo "$root" >"$stage/bin/source_root"
  for exe in engram engram_cuda_tests engram_cuda_kernels_bench; do
    strip -o "$stage/bin/$exe" "$build/bin/$exe"
  done
  # Shared libraries outside glibc (the device's own glibc is newer, and compatible).
  ldd "$build/bin/engram" "$build/bin/engram_cuda_tests" | awk '/=> \//{print $3}' | sort -u |
    grep -Ev '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*)\.so' |
    while read -r lib; do cp -L "$lib" "$stage/bin/lib/"; done
  local model
  model="$("$build/bin/engram" info --json --no-verify | python3 -c \
    'import json,sys; print(next(m["path"] for m in json.load(sys.stdin)["models"] if m["role"]=="generator" and not m["optional"]))')"
  split -n 2 -d -a 1 "$model" "$stage/model-split."
  mv "$stage/model-split.0" "$stage/model-1/part"
  mv "$stage/model-split.1" "$stage/model-2/part"
  sha256sum "$model" | cut -d' ' -f1 >"$stage/model-2/sha256"
  grep -qxF '/.cuda-check/' "$root/.git/info/exclude" 2>/dev/null ||
    echo '/.cuda-check/' >>"$root/.git/info/exclude"
  du -sh "$stage"/*
  echo "prepared: carry .cuda-check/model-1, then .cuda-check/model-2 (stash), then .cuda-check/bin (run)"
}

stash() {
  mkdir -p "$model_dir"
  [[ -f "$stage/model-1/part" ]] && cp "$stage/model-1/part" "$model_dir/part-1"
  if [[ -f "$stage/model-2/part" ]]; then
    cp "$stage/model-2/part" "$model_dir/part-2"
    cp "$stage/model-2/sha256" "$model_dir/sha256"
  fi
  if [[ -f "$model_dir/part-1" && -f "$model_dir/part-2" ]]; then
    cat "$model_dir/part-1" "$model_dir/part-2" >"$model_dir/$model_name"
    echo "$(cat "$model_dir/sha256")  $model_dir/$model_name" | sha256sum -c -
  fi
  ls -la "$model_dir"
}

run() {
  local out="${OUT:-$root/cuda-check-out}" bin="$stage/bin"
  mkdir -p "$out"
  export LD_LIBRARY_PATH="$bin/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # The tests find tests/data under the checkout they were built in (recorded by prepare).
  local built_in
  built_in="$(cat "$bin/source_root")"
  [[ -e "$built_in" ]] || { mkdir -p "$(dirname "$built_in")" && ln -s "$root" "$built_in"; }
  [[ -f "$model_dir/$model_name" ]] && export ENGRAM_MODELS_DIR="$model_dir"
  nvidia-smi --query-gpu=name,memory.total,clocks.max.memory --format=csv,noheader | tee "$out/gpu.txt"
  local status=0
  timeout 240 "$bin/engram_cuda_tests" --gtest_output="json:$out/cuda_tests.json" \
    2>&1 | tee "$out/cuda_tests.log" | grep -E '^\[ *(OK|FAILED|SKIPPED|PASSED) *\]|default model on|Failure' || true
  [[ "${PIPESTATUS[0]}" == 0 ]] || status=1
  timeout 90 "$bin/engram_cuda_kernels_bench" >"$out/kernels_bench.json" 2>"$out/kernels_bench.txt" || status=1
  cat "$out/kernels_bench.txt"
  if [[ -n "${ENGRAM_MODELS_DIR:-}" ]]; then
    timeout 60 "$bin/engram" bench decode --device cuda --ctx 512,8192 --tokens 64 --repeat 3 \
      --json >"$out/decode.json" || status=1
    timeout 60 "$bin/engram" bench decode --device cuda --ctx 32768 --tokens 64 --synthetic \
      --json >"$out/decode_32k.json" || status=1
    timeout 60 "$bin/engram" bench decode --device cuda --ctx 1024 --tokens 32 --batch 32 \
      --json >"$out/decode_batch32.json" || status=1
    timeout 60 "$bin/engram" bench prefill --device cuda --ctx 512,2048,8192 --json \
      >"$out/prefill.json" || status=1
    # Sparse decode on the device and offloaded (the cache in host memory), synthetic caches.
    timeout 150 "$bin/engram" bench attention --device cuda --ctx 8192,32768,131072 --steps 16 \
      --policies full,quest,retrieval,retrieval+offload --json >"$out/attention.json" || status=1
  fi
  summary "$out"
  return "$status"
}

summary() {
  python3 - "$1" <<'EOF'
import json, os, sys
out = sys.argv[1]
def load(name):
    path = os.path.join(out, name)
    try:
        with open(path) as f:
            return json.load(f)
    except Exception as e:
        return None
print("==== engram cuda_check summary ====")
print("gpu:", open(os.path.join(out, "gpu.txt")).read().strip())
t = load("cuda_tests.json")
if t:
    print(f"tests: {t['tests']} run, {t['failures']} failed, {t.get('disabled', 0)} disabled")
k = load("kernels_bench.json")
if k:
    print(f"device {k['device']}, peak {k['peak_bandwidth_gb_s']:.0f} GB/s")
    for row in k.get("matvec", []):
        print(f"matvec {row.get('type')} 4096x4096: {row.get('gb_s', 0):.0f} GB/s "
              f"({row.get('fraction_of_peak', 0):.0%} of peak) {row.get('error', '')}")
    for row in k.get("matmul_tensor_cores", []):
        print(f"matmul tensor cores {row.get('type')} n={row.get('n')}: {row.get('tflop_s', 0):.1f} TFLOP/s {row.get('error', '')}")
    for row in k.get("attend_decode", []):
        if row.get("chosen", True):
            print(f"attend_decode {row.get('n_head')}/{row.get('n_kv_head')}x{row.get('head_dim')} "
                  f"ctx {row.get('context')} splits {row.get('splits')}: {row.get('gb_s', 0):.0f} GB/s "
                  f"({row.get('fraction_of_peak', 0):.0%} of peak) {row.get('error', '')}")
    for row in k.get("attend_prefill", []):
        print(f"attend_prefill {row.get('rows')} rows at ctx {row.get('context')}: "
              f"{row.get('median_us', 0):.0f} us, {row.get('tflop_s', 0):.1f} TFLOP/s {row.get('error', '')}")
for row in k.get("sparse_decode", []) if k else []:
    print(f"sparse_decode {row.get('n_head')}/{row.get('n_kv_head')}x{row.get('head_dim')} "
          f"ctx {row.get('context')} budget {row.get('budget')}: {row.get('median_us', 0):.0f} us, "
          f"{row.get('speedup_vs_dense', 0):.1f}x dense {row.get('error', '')}")
a = load("attention.json")
for row in a["results"] if a else []:
    extra = ""
    if "offload_cpu_share" in row:
        extra = f", CPU {row['offload_cpu_share']:.0%} / waiting for GPU {row['offload_wait_share']:.0%}"
    print(f"attention.json: ctx {row['ctx']} {row['policy']}: {row['decode_ms_per_token']:.2f} ms/token{extra}")
for name in ("decode.json", "decode_32k.json", "decode_batch32.json", "prefill.json"):
    r = load(name)
    if not r:
        continue
    for row in r["results"]:
        if r["bench"] == "decode":
            extra = f", single {row['single_decode_tokens_per_s']:.0f}" if "single_decode_tokens_per_s" in row else ""
            print(f"{name}: ctx {row['ctx']} batch {r['batch']}: {row['decode_tokens_per_s']:.0f} tok/s, "
                  f"{row['decode_bytes_per_s']/1e9:.0f} GB/s = {row.get('peak_bandwidth_fraction', 0):.0%} of peak{extra}")
        else:
            print(f"{name}: ctx {row['ctx']}: {row['prefill_tokens_per_s']:.0f} tok/s")
EOF
}

case "${1:-}" in
  prepare) prepare ;;
  stash) stash ;;
  run) run ;;
  *) echo "usage: scripts/cuda_check.sh prepare|stash|run (see the comment at the top)" >&2; exit 2 ;;
esac
