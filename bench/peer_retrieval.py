#!/usr/bin/env python3
"""The hand-wired hybrid retriever of `engram eval retrieval`: what a user builds today from
rank-bm25 + sentence-transformers + faiss-cpu, configured like engram's first stage.

Same as engram (bench/retrieval_eval.cc, retrieval/collection.h):
  - documents: every SQuAD paragraph (its article's title, "Super_Bowl_50" read as "Super Bowl
    50") and every "input" of the L-Eval .jsonl distractor files (no title);
  - chunks: bench/peer_qa.py's approximation of retrieval/chunker.h (200 MiniLM word pieces, 40
    of overlap), each indexed as "<title>. <chunk>" (ChunkIndexText) for BM25 and the embedding;
  - BM25: rank-bm25 BM25Okapi (k1 1.2, b 0.75, epsilon 0.25) over engram's term rule and stop
    words, unstemmed as rank-bm25 is used, or with --stem PyStemmer's english stems (engram's
    default since its BM25 stems);
  - dense: all-MiniLM-L6-v2 (normalised) in a faiss IndexFlatIP;
  - hybrid: 50 candidates per mode, weighted fusion of min-max normalised scores at dense
    weight 0.4 (engram's fusion before its rescoring, which is engram's own and not copied).
Hits are reduced to documents in rank order; the gold paragraph's rank gives recall@1/5/20 and
MRR@10, as engram's eval. Timed per query: the query's embedding, BM25, faiss and the fusion.
Prints one JSON object.
"""
import argparse
import glob
import json
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from peer_qa import bm25_terms, chunk, minmax  # noqa: E402  (engram's term rule and chunker)


def read_documents(squad_path, distractor_paths):
    docs, questions = [], []  # docs: (title, text); questions: (text, doc index)
    for article in json.load(open(squad_path))["data"]:
        title = article["title"].replace("_", " ")
        for p in article["paragraphs"]:
            for q in p["qas"]:
                questions.append((q["question"], len(docs)))
            docs.append((title, p["context"]))
    for path in distractor_paths:
        for line in open(path):
            if line.strip():
                docs.append(("", json.loads(line)["input"]))
    return docs, questions


def index_text(title, text):
    if not title:
        return text
    return title + ("." if title[-1].isalnum() else "") + " " + text


def ranks_to_figures(ranks):
    n = max(len(ranks), 1)
    return {"recall@1": sum(r <= 1 for r in ranks) / n, "recall@5": sum(r <= 5 for r in ranks) / n,
            "recall@20": sum(r <= 20 for r in ranks) / n,
            "mrr@10": sum(1.0 / r for r in ranks if r <= 10) / n}


def document_rank(chunk_ids, chunk_doc, gold):
    seen, rank = set(), 0
    for c in chunk_ids:
        d = chunk_doc[c]
        if d in seen:
            continue
        seen.add(d)
        rank += 1
        if d == gold:
            return rank
    return 10**9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--squad", required=True)
    ap.add_argument("--distractors", nargs="*", default=[])
    ap.add_argument("--model", required=True, help="the all-MiniLM-L6-v2 directory")
    ap.add_argument("--stem", action="store_true", help="PyStemmer english stems for BM25")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--candidates", type=int, default=50)
    ap.add_argument("--dense-weight", type=float, default=0.4)
    args = ap.parse_args()

    import faiss
    import torch
    from rank_bm25 import BM25Okapi
    from sentence_transformers import SentenceTransformer
    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    model = SentenceTransformer(args.model, device="cpu")
    tok = model.tokenizer
    count = lambda s: len(tok(s, add_special_tokens=False)["input_ids"])  # noqa: E731
    terms = bm25_terms
    if args.stem:
        import Stemmer
        stemmer = Stemmer.Stemmer("english")
        terms = lambda s: stemmer.stemWords(bm25_terms(s))  # noqa: E731

    docs, questions = read_documents(args.squad, args.distractors)
    t0 = time.perf_counter()
    texts, chunk_doc = [], []
    for d, (title, text) in enumerate(docs):
        for b, e in chunk(text, count):
            texts.append(index_text(title, text[b:e]))
            chunk_doc.append(d)
    bm25 = BM25Okapi([terms(t) for t in texts], k1=1.2, b=0.75, epsilon=0.25)
    vectors = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors.astype(np.float32))
    index_s = time.perf_counter() - t0

    n = args.candidates
    ranks = {"bm25": [], "dense": [], "hybrid": []}
    ms = {"bm25": [], "dense": [], "hybrid": []}
    for q, gold in questions:
        t = time.perf_counter()
        scores = bm25.get_scores(terms(q))
        top_b = np.argsort(-scores, kind="stable")[:n]
        tb = time.perf_counter()
        qv = model.encode([q], normalize_embeddings=True, convert_to_numpy=True)
        ds, di = index.search(qv.astype(np.float32), n)
        td = time.perf_counter()
        fused = {}
        for c, s in zip(top_b, minmax([float(scores[c]) for c in top_b])):
            fused[int(c)] = fused.get(int(c), 0.0) + (1.0 - args.dense_weight) * s
        for c, s in zip(di[0], minmax([float(x) for x in ds[0]])):
            fused[int(c)] = fused.get(int(c), 0.0) + args.dense_weight * s
        hybrid = sorted(fused, key=lambda c: (-fused[c], c))
        th = time.perf_counter()
        ms["bm25"].append((tb - t) * 1000)
        ms["dense"].append((td - tb) * 1000)
        ms["hybrid"].append((th - t) * 1000)
        ranks["bm25"].append(document_rank([int(c) for c in top_b], chunk_doc, gold))
        ranks["dense"].append(document_rank([int(c) for c in di[0]], chunk_doc, gold))
        ranks["hybrid"].append(document_rank(hybrid, chunk_doc, gold))

    out = {"peer": "rank-bm25 0.2.2 + sentence-transformers + faiss-cpu IndexFlatIP, weighted "
                   "min-max fusion",
           "stemmed": args.stem, "questions": len(questions), "documents": len(docs),
           "chunks": len(texts), "index_s": index_s}
    for mode in ranks:
        f = ranks_to_figures(ranks[mode])
        f["query_ms_p50"] = float(np.percentile(ms[mode], 50))
        f["query_ms_p99"] = float(np.percentile(ms[mode], 99))
        out[mode] = f
    print(json.dumps(out))


if __name__ == "__main__":
    main()
