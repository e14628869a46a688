#!/usr/bin/env python3
"""BM25 goldens from rank-bm25 (BM25Okapi) for tests/retrieval/bm25_test.cc.

Corpus: the first 400 SQuAD dev paragraphs (ENGRAM_SHARED_DATA); queries: 60 of their questions,
plus a tiny corpus where common terms get negative idfs (rank-bm25's epsilon floor). Terms come
from the rule engram's Bm25Terms implements (retrieval/bm25.h), with its stop-word list read from
retrieval/bm25.cc, so a change on one side fails the test. k1 = 1.2, b = 0.75, epsilon = 0.25.
The "_stemmed" cases stem the terms with PyStemmer's english stemmer, pinned to the Snowball
release Debian's libstemmer-dev ships (2.2.0), which engram links (Stemming::kEnglish).
Writes tests/data/bm25/rank_bm25.json. Run with .venv-peers/bin/python
(pip install rank-bm25 PyStemmer==2.2.0.3).
"""
import json
import os
import pathlib
import re

from rank_bm25 import BM25Okapi
import importlib.metadata
import Stemmer

STEMMER = Stemmer.Stemmer("english")

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED = pathlib.Path(os.environ.get("ENGRAM_SHARED_DATA", ROOT.parent / "shared" / "data"))
src = (ROOT / "retrieval" / "bm25.cc").read_text()
STOP = set(re.findall(r'"([a-z]+)"', src[src.index("kStopWords"):src.index("};", src.index("kStopWords"))]))


def is_word_char(c):
    o = ord(c)
    if o < 0x80:
        return c.isascii() and c.isalnum()
    return not (0xA0 <= o <= 0xBF or 0x2000 <= o <= 0x207F or 0x3000 <= o <= 0x303F)


def terms(text, stem=False):
    out, cur = [], []
    for c in text + " ":
        if is_word_char(c):
            cur.append(c.lower() if c.isascii() else c)
        else:
            if cur:
                t = "".join(cur)
                if t not in STOP:
                    out.append(t)
            cur = []
    return STEMMER.stemWords(out) if stem else out


def case(corpus, queries, full_scores, stem=False, with_documents=True):
    tok = [terms(d, stem) for d in corpus]
    bm = BM25Okapi(tok, k1=1.2, b=0.75, epsilon=0.25)
    out = {"documents": corpus if with_documents else None, "queries": []}
    for q in queries:
        s = bm.get_scores(terms(q, stem))
        top = sorted(range(len(corpus)), key=lambda i: (-s[i], i))[:20]
        entry = {"query": q, "terms": terms(q, stem), "top": [[i, float(s[i])] for i in top]}
        if full_scores:
            entry["scores"] = [float(x) for x in s]
        out["queries"].append(entry)
    out["document_terms"] = tok[:40]
    out["average_idf"] = bm.average_idf
    return out


squad = json.load(open(SHARED / "squad" / "dev-v1.1.shared.json"))
paragraphs, questions = [], []
for article in squad["data"]:
    for p in article["paragraphs"]:
        paragraphs.append(p["context"])
        questions += [q["question"] for q in p["qas"][:1]]
paragraphs, questions = paragraphs[:400], questions[:400:7][:60]
tiny = ["the cat sat on the mat", "a cat and a dog", "cat cat cat", "dogs chase cats",
        "the mat is red", "Cat café — naïve “quotes” 東京。タワー", "cat mat dog"]
golden = {"rank_bm25": importlib.metadata.version("rank-bm25"), "k1": 1.2, "b": 0.75, "epsilon": 0.25,
          "pystemmer": importlib.metadata.version("PyStemmer"),
          "squad": case(paragraphs, questions, False),
          # the same paragraphs (kept once, under "squad"), stemmed
          "squad_stemmed": case(paragraphs, questions, False, stem=True, with_documents=False),
          "tiny": case(tiny, ["cat", "cat mat", "dog dog", "東京 タワー café", "missing words"], True),
          "tiny_stemmed": case(tiny + ["painted paintings", "the painter paints"],
                               ["cats", "painting", "painters mats"], True, stem=True)}
out = ROOT / "tests" / "data" / "bm25" / "rank_bm25.json"
out.write_text(json.dumps(golden, ensure_ascii=False))
print(f"wrote {out} ({out.stat().st_size} bytes)")
