#!/usr/bin/env python3
"""The hand-wired RAG peer of `engram eval qa --modes rag`: what a user builds today from
llama-cpp-python + sentence-transformers + faiss-cpu + rank-bm25, configured like engram.

Same as engram (bench/qa_eval.h, agent/qa.h, agent/internal/qa_prompt.h):
  - questions: SQuAD v1.1 articles (paragraphs joined with "\\n\\n") as documents, the same
    selection as `engram eval qa --limit N --documents M --split S` (question 0 of every
    document, then question 1, ...), each question searched within its own article;
  - chunks: sentence-aware, at most 200 MiniLM word pieces ([CLS] and [SEP] included), trailing
    whole sentences of up to 40 word pieces repeated at the start of the next chunk (an
    approximation of retrieval/chunker.h: its abbreviation rules are not copied);
  - search: BM25 (rank-bm25 BM25Okapi over all chunks of all articles, k1 1.2, b 0.75,
    epsilon 0.25, engram's term rule and stop words) and dense (all-MiniLM-L6-v2, normalised,
    faiss IndexFlatIP, restricted to the article with an IDSelectorBatch), max(4k, 50)
    candidates each, fused as weighted min-max (dense weight 0.5), top k;
  - prompt: the k chunks packed like agent::internal::PackSources (best first while they fit
    the budget, overlapping chunks of one document merged, numbered in document order), the
    same instruction and layout, the model's chat template (create_chat_completion);
  - generation: greedy (temperature 0, repeat penalty 1), max_tokens as engram's answer limit,
    same GGUF, n_ctx and threads;
  - scoring: SQuAD v1.1 EM and F1 (evaluate-v1.1.py's normalisation), citation markers "[n]"
    removed first, as bench/qa_metrics.h.
Timed per question: retrieval (query embedding, BM25, faiss, fusion) + generation; the model
load and the indexing are reported apart. Prints one JSON object.
"""
import argparse
import collections
import json
import os
import pathlib
import re
import string
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]

# agent/internal/qa_prompt.h (kRagInstruction, SourcesBlock, QuestionBlock), copied verbatim.
RAG_INSTRUCTION = (
    "Answer the question using only the numbered sources. Cite the sources you use by their "
    "numbers in brackets, like [1]. If the sources do not contain the answer, say that you do "
    "not know. Keep the answer short.")


def sources_block(sources):
    out = "Sources:\n\n"
    for s in sources:
        out += f"[{s['number']}] {s['text']}\n\n"
    return out


def question_block(q):
    return "Question: " + q


# ---- SQuAD v1.1 metric (evaluate-v1.1.py) ------------------------------------------------------

def normalize_answer(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def f1_score(prediction, ground_truth):
    p, g = normalize_answer(prediction).split(), normalize_answer(ground_truth).split()
    common = collections.Counter(p) & collections.Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction, ground_truth):
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def strip_citations(text):
    # bench/qa_metrics.cc StripCitations: "[1]", "[2, 3]" and the spaces before them.
    return re.sub(r" *\[[0-9, ]*[0-9][0-9, ]*\]", "", text)


# ---- engram's BM25 terms (retrieval/bm25.h; as scripts/goldens/bm25_rank_bm25.py) -------------

_src = (ROOT / "retrieval" / "bm25.cc").read_text()
_at = _src.index("kStopWords")
STOP = set(re.findall(r'"([a-z]+)"', _src[_at:_src.index("};", _at)]))


def is_word_char(c):
    o = ord(c)
    if o < 0x80:
        return c.isascii() and c.isalnum()
    return not (0xA0 <= o <= 0xBF or 0x2000 <= o <= 0x207F or 0x3000 <= o <= 0x303F)


def bm25_terms(text):
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
    return out


# ---- selection (bench/qa_eval.cc Spread) -------------------------------------------------------

def select_squad(path, limit, documents, split):
    data = json.load(open(path))["data"]
    cands = []
    for a, article in enumerate(data):
        if documents and len(cands) >= documents:
            break
        if split == "even" and a % 2 or split == "odd" and a % 2 == 0:
            continue
        text = "\n\n".join(p["context"] for p in article["paragraphs"])
        qs = [q for p in article["paragraphs"] for q in p["qas"] if q["answers"]]
        if qs:
            cands.append({"index": a, "title": article["title"], "text": text, "qas": qs})
    picked, rnd = [], 0
    want = limit if limit > 0 else float("inf")
    while len(picked) < want:
        any_ = False
        for d, c in enumerate(cands):
            if len(picked) >= want:
                break
            if rnd < len(c["qas"]):
                picked.append((d, rnd))
                any_ = True
        if not any_:
            break
        rnd += 1
    picked.sort()
    docs = sorted({d for d, _ in picked})
    return [cands[d] for d in docs], [(docs.index(d), cands[d]["qas"][q]) for d, q in picked]


# ---- chunking ------------------------------------------------------------------------------------

_ABBREVIATION = re.compile(
    r"^[\"'(\[]*(?:[A-Z]|(?:[A-Za-z]\.){1,}[A-Za-z]?|Dr|Mr|Mrs|Ms|Prof|St|Jr|Sr|vs|etc|No|Vol|Fig|"
    r"Inc|Ltd|Co|Corp|Mt|Gen|Col|Capt|Lt|Sgt|Rev|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|"
    r"Dec)\.$")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n\s*\n")


def sentences(text):
    """(begin, end) spans of sentences: after . ! ? (and closing quotes) + white space, and at
    blank lines; white space trimmed."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((start, m.start() if text[m.start()] in " \t\r\n" else m.end()))
        start = m.end()
    spans.append((start, len(text)))
    out = []
    for b, e in spans:
        while b < e and text[b].isspace():
            b += 1
        while e > b and text[e - 1].isspace():
            e -= 1
        if e > b:
            out.append((b, e))
    # No break after what looks like an abbreviation ("Dr.", "e.g.", "U.S.", an initial) or
    # before a word in lower case, as retrieval/chunker.h (roughly), unless at a blank line.
    merged = []
    for b, e in out:
        if merged:
            pb, pe = merged[-1]
            last_word = text[pb:pe].split()[-1]
            blank_line = "\n\n" in text[pe:b].replace("\r", "")
            if not blank_line and text[pe - 1] == "." and (
                    _ABBREVIATION.match(last_word) or text[b].islower()):
                merged[-1] = (pb, e)
                continue
        merged.append((b, e))
    return merged


def chunk(text, count, max_tokens=200, overlap_tokens=40):
    """Chunks as (begin, end) character spans. count(s) counts word pieces without specials."""
    budget = max_tokens - 2  # [CLS] and [SEP]
    units = []
    for b, e in sentences(text):
        n = count(text[b:e])
        if n <= budget:
            units.append((b, e, n))
            continue
        # A sentence longer than a chunk: cut at white space into pieces that fit.
        start = last = None
        for m in re.finditer(r"\S+", text[b:e]):
            if start is None:
                start = m.start()
            elif count(text[b + start:b + m.end()]) > budget:
                units.append((b + start, b + last, count(text[b + start:b + last])))
                start = m.start()
            last = m.end()
        units.append((b + start, b + last, count(text[b + start:b + last])))
    chunks, i = [], 0
    while i < len(units):
        j, used = i, 0
        while j < len(units) and (j == i or used + units[j][2] <= budget):
            used += units[j][2]
            j += 1
        while j - i > 1 and count(text[units[i][0]:units[j - 1][1]]) > budget:
            j -= 1
        chunks.append((units[i][0], units[j - 1][1]))
        if j >= len(units):
            break
        # overlap: trailing whole sentences of this chunk up to overlap_tokens
        k, o = j, 0
        while k - 1 > i and o + units[k - 1][2] <= overlap_tokens:
            o += units[k - 1][2]
            k -= 1
        i = k if k < j else j
    return chunks


# ---- the pipeline --------------------------------------------------------------------------------

def minmax(scores):
    if not scores:
        return []
    lo, hi = min(scores), max(scores)
    return [1.0 if hi == lo else (s - lo) / (hi - lo) for s in scores]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--squad", required=True)
    ap.add_argument("--model", required=True, help="the generator GGUF")
    ap.add_argument("--embedder", required=True, help="all-MiniLM-L6-v2 directory")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--documents", type=int, default=0)
    ap.add_argument("--split", default="all", choices=["all", "even", "odd"])
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--ctx", type=int, default=8192)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-answer-tokens", type=int, default=64)
    ap.add_argument("--examples", type=int, default=3)
    a = ap.parse_args()

    import faiss
    import numpy as np
    from llama_cpp import Llama
    from rank_bm25 import BM25Okapi
    from sentence_transformers import SentenceTransformer
    import importlib.metadata as md
    import torch

    torch.set_num_threads(a.threads)
    faiss.omp_set_num_threads(a.threads)
    docs, questions = select_squad(a.squad, a.limit, a.documents, a.split)

    t0 = time.perf_counter()
    llm = Llama(model_path=a.model, n_ctx=a.ctx, n_threads=a.threads, n_threads_batch=a.threads,
                verbose=False, seed=0)
    st = SentenceTransformer(a.embedder, device="cpu")
    load_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    wp = st.tokenizer

    def count(s):
        return len(wp(s, add_special_tokens=False, truncation=False)["input_ids"])

    chunks = []  # {doc, begin, end, text}
    for d, doc in enumerate(docs):
        for b, e in chunk(doc["text"], count):
            chunks.append({"doc": d, "begin": b, "end": e, "text": doc["text"][b:e]})
    emb = st.encode([c["text"] for c in chunks], batch_size=32, normalize_embeddings=True,
                    convert_to_numpy=True).astype(np.float32)
    index = faiss.IndexFlatIP(emb.shape[1])
    index.add(emb)
    bm25 = BM25Okapi([bm25_terms(c["text"]) for c in chunks], k1=1.2, b=0.75, epsilon=0.25)
    by_doc = collections.defaultdict(list)
    for i, c in enumerate(chunks):
        by_doc[c["doc"]].append(i)
    index_s = time.perf_counter() - t0

    n_candidates = max(4 * a.k, 50)
    em = f1 = 0.0
    seconds, retrieve_s, prompt_tokens, examples = [], [], [], []
    for d, qa in questions:
        q = qa["question"]
        start = time.perf_counter()
        ids = by_doc[d]
        # BM25 within the document, corpus-wide statistics (as a filtered engram search).
        s = bm25.get_batch_scores(bm25_terms(q), ids)
        bl = sorted([(float(x), i) for x, i in zip(s, ids) if x > 0], key=lambda t: (-t[0], t[1]))
        bl = bl[:n_candidates]
        qv = st.encode([q], normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.array(ids, dtype=np.int64)))
        ds, di = index.search(qv, min(n_candidates, len(ids)), params=params)
        dl = [(float(x), int(i)) for x, i in zip(ds[0], di[0]) if i >= 0]
        fused = collections.defaultdict(float)
        for w, lst in ((0.5, bl), (0.5, dl)):
            for n, (_, i) in zip(minmax([x for x, _ in lst]), lst):
                fused[i] += w * n
        hits = sorted(fused.items(), key=lambda t: (-t[1], t[0]))[:a.k]
        # PackSources: best first while they fit, then document order, overlaps merged.
        # The prompt without sources (plus the template's few tokens) and the answer limit.
        bare = RAG_INSTRUCTION + sources_block([]) + question_block(q)
        overhead = len(llm.tokenize(bare.encode(), add_bos=False)) + 16
        budget = a.ctx - overhead - a.max_answer_tokens
        used, chosen = 0, []
        for i, _ in hits:
            t = len(llm.tokenize(chunks[i]["text"].encode(), add_bos=False)) + 4
            if used + t > budget:
                continue
            used += t
            chosen.append(chunks[i])
        chosen.sort(key=lambda c: (c["doc"], c["begin"]))
        sources = []
        for c in chosen:
            if sources and sources[-1]["doc"] == c["doc"] and c["begin"] <= sources[-1]["end"]:
                s_ = sources[-1]
                if c["end"] > s_["end"]:
                    s_["text"] += docs[c["doc"]]["text"][s_["end"]:c["end"]]
                    s_["end"] = c["end"]
                continue
            sources.append(dict(c))
        for n, s_ in enumerate(sources, 1):
            s_["number"] = n
        retrieved = time.perf_counter()
        messages = [{"role": "system", "content": RAG_INSTRUCTION},
                    {"role": "user", "content": sources_block(sources) + question_block(q)}]
        out = llm.create_chat_completion(messages=messages, temperature=0.0, top_k=1, top_p=1.0,
                                         min_p=0.0, repeat_penalty=1.0,
                                         max_tokens=a.max_answer_tokens, seed=0)
        done = time.perf_counter()
        llm.reset()
        answer = out["choices"][0]["message"]["content"].strip()
        golds = [x["text"] for x in qa["answers"]]
        scored = strip_citations(answer)
        em += max(exact_match(scored, g) for g in golds)
        f1 += max(f1_score(scored, g) for g in golds)
        seconds.append(done - start)
        retrieve_s.append(retrieved - start)
        prompt_tokens.append(out["usage"]["prompt_tokens"])
        if len(examples) < a.examples:
            examples.append({"id": qa["id"], "question": q, "answer": answer, "gold": golds})
        if sys.stderr.isatty():
            print(f"peer_qa: {len(seconds)}/{len(questions)}", file=sys.stderr, end="\r")
    n = len(questions)
    print(json.dumps({
        "peer": "llama-cpp-python " + md.version("llama-cpp-python") + " + sentence-transformers "
                + md.version("sentence-transformers") + " + faiss-cpu " + md.version("faiss-cpu")
                + " + rank-bm25 " + md.version("rank-bm25"),
        "questions": n, "question_ids": [qa["id"] for _, qa in questions],
        "documents": len(docs), "chunks": len(chunks),
        "squad_em": em / n, "squad_f1": f1 / n,
        "seconds_per_question": sum(seconds) / n,
        "retrieve_seconds_per_question": sum(retrieve_s) / n,
        "tokens_per_answer": sum(prompt_tokens) / n,
        "load_s": load_s, "index_s": index_s,
        "config": {"k": a.k, "ctx": a.ctx, "threads": a.threads,
                   "max_answer_tokens": a.max_answer_tokens, "candidates": n_candidates,
                   "chunk_tokens": 200, "overlap_tokens": 40,
                   "fusion": "weighted min-max, dense 0.5"},
        "examples": examples}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
