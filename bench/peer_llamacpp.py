#!/usr/bin/env python3
"""llama.cpp's prefill and decode tokens/s, measured exactly as `engram bench prefill|decode`:
  prefill at C: evaluate the first C tokens of the text on a fresh context (n_ctx = C);
  decode at C:  prefill the first C - T tokens, then feed tokens C - T .. C - 1 one at a time
                (teacher forcing, logits of the last token only); tokens/s = T / time of the T steps.
llama.cpp runs with llama-cpp-python's defaults otherwise: n_batch = n_ubatch = 512, f16 KV cache,
flash attention off (the object's context_params are echoed under "settings").
The text is tokenized by llama.cpp (identical to engram's tokenizer, tests/data/tokenize) and
repeated until long enough. Median of --repeat runs. Prints one JSON object.
Run by bench/peer_llamacpp.sh; on its own:
  .venv-peers/bin/python bench/peer_llamacpp.py --what prefill --model M.gguf --text F --ctx 512
"""
import argparse
import json
import statistics
import time

from llama_cpp import Llama, __version__ as llama_cpp_version

GGML_TYPES = {0: "f32", 1: "f16", 8: "q8_0", 30: "bf16"}
FLASH_ATTN = {-1: "auto", 0: "off", 1: "on"}


def settings(llm):
    p = llm.context_params
    fa = getattr(p, "flash_attn_type", getattr(p, "flash_attn", None))
    return {"n_ctx": int(p.n_ctx), "n_batch": int(p.n_batch), "n_ubatch": int(p.n_ubatch),
            "n_threads": int(p.n_threads), "n_threads_batch": int(p.n_threads_batch),
            "flash_attn": FLASH_ATTN.get(int(fa), str(fa)) if fa is not None else "unknown",
            "type_k": GGML_TYPES.get(int(p.type_k), int(p.type_k)),
            "type_v": GGML_TYPES.get(int(p.type_v), int(p.type_v))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--ctx", type=int, required=True)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--what", choices=["prefill", "decode"], required=True)
    a = ap.parse_args()
    if a.what == "decode" and not 0 < a.tokens < a.ctx:
        ap.error(f"--tokens must be between 1 and ctx - 1 (got {a.tokens} at ctx {a.ctx})")
    llm = Llama(a.model, n_ctx=a.ctx, n_threads=a.threads, n_threads_batch=a.threads,
                n_batch=512, n_ubatch=512, logits_all=False, verbose=False)
    ids = llm.tokenize(open(a.text, "rb").read(), add_bos=False, special=False)
    if not ids:
        ap.error(f"{a.text} holds no tokens")
    tokens = []
    while len(tokens) < a.ctx:
        tokens += ids
    tokens = tokens[:a.ctx]
    times = []
    for _ in range(a.repeat):
        llm.reset()
        if a.what == "prefill":
            t = time.perf_counter()
            llm.eval(tokens)
            times.append(time.perf_counter() - t)
        else:
            prompt = a.ctx - a.tokens
            llm.eval(tokens[:prompt])
            t = time.perf_counter()
            for i in range(a.tokens):
                llm.eval([tokens[prompt + i]])
            times.append(time.perf_counter() - t)
    s = statistics.median(times)
    n = a.ctx if a.what == "prefill" else a.tokens
    print(json.dumps({"peer": f"llama.cpp (llama-cpp-python {llama_cpp_version})",
                      "llama_cpp_python": llama_cpp_version, "what": a.what, "ctx": a.ctx,
                      "tokens": n, "tokens_per_s": n / s, "seconds_median": s,
                      "seconds": times, "runs": a.repeat, "threads": a.threads,
                      "text_tokens": len(ids), "settings": settings(llm)}))


if __name__ == "__main__":
    main()
