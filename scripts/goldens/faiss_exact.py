#!/usr/bin/env python3
"""Exact inner-product goldens from faiss-cpu (IndexFlatIP) for tests/retrieval/vector_index_test.cc.

numpy (seed 20240607) draws 3,000 base vectors and 50 queries of dim 64 from N(0, 1), L2-normalises
them in float32, and rounds them to float16; FAISS then searches the float16 values widened back
to float32 (so the C++ side, which reads the same float16 files, sees exactly the same inputs).
Writes, under tests/data/faiss/:
  flat_base.f16      3000 x 64 float16, little-endian, row-major
  flat_queries.f16   50 x 64 float16, little-endian, row-major
  flat_ip_top10.json {"faiss_cpu", "numpy", "seed", "n", "dim", "queries", "k",
                      "ids": [[10 ids] x 50], "scores": [[10 float32 scores] x 50],
                      "score_11th": [50 float32], "min_gap": float}
Scores are written as the shortest decimal that round-trips the float32. `min_gap` is the
smallest difference between two consecutive scores of the top 11 of any query: when it is above
the C++ tolerance, the golden has no near-ties and the ids must match in order.
Run with .venv-peers/bin/python (pip install faiss-cpu; generated with faiss-cpu 1.15.1).
"""
import importlib.metadata
import json
import pathlib

import faiss
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "faiss"
SEED, N, DIM, QUERIES, K = 20240607, 3000, 64, 50, 10


def normalised_f16(rng, rows):
    x = rng.standard_normal((rows, DIM), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float16)


def shortest(f):
    # repr of a Python float is the shortest string that round-trips the double; the float32
    # value widened to double round-trips to the same float32.
    return float(np.format_float_positional(np.float32(f), unique=True, trim="-"))


def main():
    rng = np.random.default_rng(SEED)
    base16 = normalised_f16(rng, N)
    query16 = normalised_f16(rng, QUERIES)
    OUT.mkdir(parents=True, exist_ok=True)
    base16.astype("<f2").tofile(OUT / "flat_base.f16")
    query16.astype("<f2").tofile(OUT / "flat_queries.f16")

    base = base16.astype(np.float32)
    queries = query16.astype(np.float32)
    index = faiss.IndexFlatIP(DIM)
    index.add(base)
    scores, ids = index.search(queries, K + 1)

    # Cross-check FAISS against float64 numpy: same top 11 ids.
    exact = queries.astype(np.float64) @ base.astype(np.float64).T
    ref = np.argsort(-exact, axis=1, kind="stable")[:, : K + 1]
    agree = int((ref == ids).all(axis=1).sum())
    max_diff = float(np.abs(np.take_along_axis(exact, ids, axis=1) - scores).max())
    min_gap = float((scores[:, :-1] - scores[:, 1:]).min())

    golden = {
        "faiss_cpu": importlib.metadata.version("faiss-cpu"),
        "numpy": np.__version__,
        "seed": SEED,
        "n": N,
        "dim": DIM,
        "queries": QUERIES,
        "k": K,
        "ids": [[int(i) for i in row[:K]] for row in ids],
        "scores": [[shortest(s) for s in row[:K]] for row in scores],
        "score_11th": [shortest(row[K]) for row in scores],
        "min_gap": min_gap,
    }
    (OUT / "flat_ip_top10.json").write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    print(f"faiss-cpu {golden['faiss_cpu']}, numpy {golden['numpy']}")
    print(f"top-{K + 1} ids equal to float64 numpy for {agree}/{QUERIES} queries; "
          f"max |faiss - float64| = {max_diff:.3g}; min consecutive score gap = {min_gap:.3g}")


if __name__ == "__main__":
    main()
