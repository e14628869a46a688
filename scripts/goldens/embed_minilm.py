#!/usr/bin/env python3
"""Embedding goldens from sentence-transformers for tests/inference/bert_embedder_golden_test.cc.

500 varied texts (XQuAD paragraphs' sentences in 8 languages, essay paragraphs, LoCoMo turns,
and edge cases: empty, whitespace, emoji, code, numbers, a text far beyond 256 tokens) embedded
by all-MiniLM-L6-v2 with sentence-transformers on CPU. Writes tests/data/embed/:
  minilm_texts.jsonl   {"text": ...} per line
  minilm_st.f16        500 x 384 little-endian float16 (normalised embeddings)
Run with .venv-peers/bin/python; ENGRAM_SHARED_DATA (default ../shared/data) gives the texts.
"""
import json
import os
import pathlib
import re

import numpy as np
from sentence_transformers import SentenceTransformer, __version__ as st_version

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED = pathlib.Path(os.environ.get("ENGRAM_SHARED_DATA", ROOT.parent / "shared" / "data"))
MODELS = pathlib.Path(os.environ.get("ENGRAM_MODELS_DIR", pathlib.Path.home() / ".cache/engram/models"))
OUT = ROOT / "tests" / "data" / "embed"


def sentences(text):
    return [s.strip() for s in re.split(r"(?<=[.!?。！？])\s*", text) if s.strip()]


def texts():
    out = []
    for lang in ["en", "de", "es", "ru", "zh", "ar", "hi", "th"]:
        data = json.loads((SHARED / "xquad" / f"xquad.{lang}.shared.json").read_text())
        pool = []
        for article in data["data"]:
            for p in article["paragraphs"]:
                pool += sentences(p["context"])
        out += pool[:: max(1, len(pool) // 45)][:45]
    essays = sorted((SHARED / "haystack" / "pg_essays").glob("*.txt"))
    paragraphs = [l for f in essays for l in f.read_text().split("\n") if l.strip()]
    out += paragraphs[:: max(1, len(paragraphs) // 60)][:60]
    locomo = json.loads((SHARED / "locomo" / "locomo.shared.json").read_text())
    turns = []
    for conv in locomo:
        c = conv.get("conversation", conv)
        for k in sorted(c):
            if k.startswith("session_") and isinstance(c[k], list):
                turns += [t["text"] for t in c[k] if t.get("text")]
    out += turns[:: max(1, len(turns) // 40)][:40]
    edge = ["", " ", "\n\t ", "a", "I", "?", "😀", "🙂 great work 👍", "naïve café résumé",
            "ÅNGSTRÖM", "HELLO WORLD", "hello world", "Hello, World!", "123456789",
            "3.14159 2.71828 1.41421", "2026-11-28T21:00:00Z", "x = f(y) + 2 * z",
            "def f(x):\n    return x ** 2", "<html><body>Hi</body></html>",
            "user@example.com https://example.com/a?b=c", "[CLS] [SEP] [MASK] [PAD]",
            "don't won't can't it's", "  leading and trailing  ", "a" * 300,
            "supercalifragilisticexpialidocious", "Tokyo 東京 Moscow Москва Cairo القاهرة",
            " ".join(["long"] * 600), " ".join(paragraphs[:6])]
    out += edge
    while len(out) < 500:
        out.append(paragraphs[len(out) % len(paragraphs)][:200])
    return out[:500]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    items = texts()
    model = SentenceTransformer(str(MODELS / "all-MiniLM-L6-v2"), device="cpu")
    emb = model.encode(items, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    with open(OUT / "minilm_texts.jsonl", "w", encoding="utf-8") as f:
        for t in items:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    emb.astype("<f2").tofile(OUT / "minilm_st.f16")
    (OUT / "minilm_meta.json").write_text(json.dumps(
        {"peer": f"sentence-transformers {st_version}", "model": "all-MiniLM-L6-v2",
         "count": len(items), "dim": int(emb.shape[1]), "max_seq_length": model.max_seq_length},
        indent=1) + "\n")
    print(f"{len(items)} texts, dim {emb.shape[1]}, max_seq_length {model.max_seq_length}")


if __name__ == "__main__":
    main()
