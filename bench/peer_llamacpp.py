#!/usr/bin/env python3
"""llama.cpp's prefill and decode tokens/s, measured exactly as `engram bench prefill|decode`:
  prefill at C: evaluate the first C tokens of the text on a fresh context (n_ctx = C);
  decode at C:  prefill the first C - T tokens, then feed tokens C - T .. C - 1 one at a time.
The text is tokenized by llama.cpp (identical to engram's tokenizer, tests/data/tokenize) and
repeated until long enough. Median of --repeat runs. Prints one JSON object.
Run by bench/peer_llamacpp.sh.
"""
import argparse
import json
import statistics
import time

from llama_cpp import Llama, __version__ as llama_cpp_version


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
    llm = Llama(a.model, n_ctx=a.ctx, n_threads=a.threads, n_threads_batch=a.threads,
                n_batch=512, n_ubatch=512, logits_all=False, verbose=False)
    ids = llm.tokenize(open(a.text, "rb").read(), add_bos=False, special=False)
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
    print(json.dumps({"peer": f"llama.cpp (llama-cpp-python {llama_cpp_version})", "what": a.what,
                      "ctx": a.ctx, "tokens": n, "tokens_per_s": n / s, "runs": a.repeat,
                      "threads": a.threads}))


if __name__ == "__main__":
    main()
