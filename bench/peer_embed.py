#!/usr/bin/env python3
"""sentence-transformers' sentences/s and per-call latency, measured as `engram bench embed`:
the same texts (the first N SQuAD dev sentences, split as engram splits them, or --file), the
same batch sizes and torch thread count. Throughput is SentenceTransformer.encode over the whole
list with batch_size=B (its usual call: it sorts the texts by length so batches carry little
padding), median of --repeat passes; latency percentiles are over encode calls of B texts in
input order. Prints one JSON object. Run by bench/peer_embed.sh; on its own:
  .venv-peers/bin/python bench/peer_embed.py --model DIR --threads 2 [--file F]
"""
import argparse
import json
import os
import re
import statistics
import time

import torch
from sentence_transformers import SentenceTransformer, __version__ as st_version


def squad_sentences(limit):
    shared = os.environ.get("ENGRAM_SHARED_DATA", os.path.join(os.getcwd(), "..", "shared", "data"))
    data = json.load(open(os.path.join(shared, "squad", "dev-v1.1.shared.json")))
    out = []
    for article in data["data"]:
        for p in article["paragraphs"]:
            for s in re.split(r"(?<=[.!?])\s+", p["context"]):
                s = s.strip()
                if s and len(out) < limit:
                    out.append(s)
    return out


def percentile(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--file")
    ap.add_argument("--batch", default="1,32")
    ap.add_argument("--sentences", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.file:
        texts = open(a.file, encoding="utf-8", errors="replace").read().split("\n")[: a.sentences]
    else:
        texts = squad_sentences(a.sentences)
    model = SentenceTransformer(a.model, device="cpu")
    model.encode(texts[:64], batch_size=32)  # warm-up
    tokens = [len(model.tokenizer(t, truncation=True, max_length=model.max_seq_length)["input_ids"]) for t in texts]
    results = []
    for batch in (int(b) for b in a.batch.split(",")):
        rates, calls = [], []
        for _ in range(a.repeat):
            t = time.perf_counter()
            model.encode(texts, batch_size=batch)
            rates.append(len(texts) / (time.perf_counter() - t))
        for start in range(0, len(texts), batch):
            t = time.perf_counter()
            model.encode(texts[start:start + batch], batch_size=batch)
            calls.append((time.perf_counter() - t) * 1000)
        results.append({"batch": batch, "sentences_per_s": statistics.median(rates),
                        "p50_ms": percentile(calls, 0.5), "p99_ms": percentile(calls, 0.99),
                        "runs": a.repeat})
    print(json.dumps({"peer": f"sentence-transformers {st_version} (torch {torch.__version__})",
                      "threads": torch.get_num_threads(), "sentences": len(texts),
                      "mean_tokens": statistics.mean(tokens), "results": results}))


if __name__ == "__main__":
    main()
