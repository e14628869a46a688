#!/usr/bin/env python3
"""How much contextual indexing could lift LoCoMo recall: a probe for issue 24, not the product.

Each variant stores every LoCoMo turn through engram.Memory with a different text: the turn
alone ("base", what `engram eval memory` stores), or the turn with its session's date and/or
its neighbouring turns of the same session. Both BM25 and the embedding see that text, and so
does the caller (the store has no separate index text yet), so this measures the ranking effect
only. Evidence recall@10 at engram.Memory's defaults (combined score), overall and per LoCoMo
category. The variants were not tuned: read the best as an upper hint, and cross-validate
before any becomes a default.

  ENGRAM_SHARED_DATA=... python bench/locomo_context_probe.py base date prev prev+date prev2+date
(with the engram Python package installed, e.g. the venv bench/peer_mem0.sh builds).

With --split, each argument is BM25_VARIANT:EMBEDDED_VARIANT: the store gets the first text (so
BM25 indexes it) and, as vectors, sentence-transformers' embeddings of the second (the same
all-MiniLM-L6-v2 directory, f32), which separates what context does for each side:
  python bench/locomo_context_probe.py --split base:base prev2+date:base prev2+date:date
"""
import datetime
import json
import os
import re
import shutil
import sys
import tempfile

import engram

VARIANTS = ("base", "date", "prev", "prev+next", "prev+date", "prev2+date", "prev+next+date")


def sessions(conversation):
    keys = sorted((int(m.group(1)), k) for k in conversation
                  if (m := re.fullmatch(r"session_(\d+)", k)) and isinstance(conversation[k], list))
    return [(k, conversation[k + "_date_time"], conversation[k]) for _, k in keys]


def epoch_ms(date):
    when = datetime.datetime.strptime(date, "%I:%M %p on %d %B, %Y")
    return int(when.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


def text_of(variant, date, turns, i):
    line = lambda j: f"{turns[j]['speaker']}: {turns[j]['text']}" if 0 <= j < len(turns) else ""
    parts = {"base": [line(i)], "date": [line(i)], "prev": [line(i - 1), line(i)],
             "prev+next": [line(i - 1), line(i), line(i + 1)],
             "prev+date": [line(i - 1), line(i)], "prev2+date": [line(i - 2), line(i - 1), line(i)],
             "prev+next+date": [line(i - 1), line(i), line(i + 1)]}[variant]
    text = "\n".join(p for p in parts if p)
    return f"[{date}] {text}" if variant.endswith("date") else text


def evidence(qa):
    return [e.strip() for item in qa.get("evidence", []) for e in item.split(";") if e.strip()]


def probe(variant, conversations, work):
    total, count, by_category = 0.0, 0, {}
    with engram.Memory(os.path.join(work, variant), precision="int8", sync=False) as m:
        for c in conversations:
            namespace, dia_of = f"c{c['sample_id']}", {}
            for key, date, turns in sessions(c):
                messages = [{"role": "user", "content": text_of(variant, date, turns, i)}
                            for i in range(len(turns))]
                ids = m.add(messages, namespace=namespace, session=key, timestamp_ms=epoch_ms(date))
                dia_of.update({id: turn["dia_id"] for id, turn in zip(ids, turns)})
            for qa in c["qa"]:
                wanted = evidence(qa)
                if not wanted or not qa.get("question"):
                    continue
                found = {dia_of[h["id"]] for h in m.search(qa["question"], namespace=namespace, k=10)}
                recall = sum(e in found for e in wanted) / len(wanted)
                total, count = total + recall, count + 1
                by_category.setdefault(str(qa.get("category")), []).append(recall)
    return total / count, {k: sum(v) / len(v) for k, v in sorted(by_category.items())}


def probe_split(bm25_variant, embedded_variant, conversations, work):
    """As probe(), with BM25 on one text and the vectors from another."""
    import numpy as np
    from sentence_transformers import SentenceTransformer
    models = os.environ.get("ENGRAM_MODELS_DIR") or os.path.expanduser("~/.cache/engram/models")
    model = SentenceTransformer(os.path.join(models, "all-MiniLM-L6-v2"), device="cpu")
    embed = lambda texts: model.encode(texts, batch_size=64,
                                       normalize_embeddings=True).astype(np.float32)
    total, count, by_category = 0.0, 0, {}
    path = os.path.join(work, f"{bm25_variant}-{embedded_variant}")
    with engram.Memory(path, dim=384, sync=False) as m:
        for c in conversations:
            namespace, dia_of = f"c{c['sample_id']}", {}
            for key, date, turns in sessions(c):
                n = range(len(turns))
                messages = [{"role": "user", "content": text_of(bm25_variant, date, turns, i)}
                            for i in n]
                vectors = embed([text_of(embedded_variant, date, turns, i) for i in n])
                ids = m.add(messages, namespace=namespace, session=key,
                            timestamp_ms=epoch_ms(date), vectors=vectors)
                dia_of.update({id: turn["dia_id"] for id, turn in zip(ids, turns)})
            for qa in c["qa"]:
                wanted = evidence(qa)
                if not wanted or not qa.get("question"):
                    continue
                hits = m.search(qa["question"], namespace=namespace, k=10,
                                vector=embed([qa["question"]])[0])
                recall = sum(e in {dia_of[h["id"]] for h in hits} for e in wanted) / len(wanted)
                total, count = total + recall, count + 1
                by_category.setdefault(str(qa.get("category")), []).append(recall)
    return total / count, {k: sum(v) / len(v) for k, v in sorted(by_category.items())}


def main():
    args = sys.argv[1:]
    split = bool(args) and args[0] == "--split"
    variants = (args[1:] if split else args) or ["base", "prev2+date"]
    names = [part for v in variants for part in (v.split(":") if split else [v])]
    if split and any(v.count(":") != 1 for v in variants):
        sys.exit("locomo_context_probe: --split takes BM25_VARIANT:EMBEDDED_VARIANT pairs")
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        sys.exit(f"locomo_context_probe: unknown variant(s) {unknown}; choose from {VARIANTS}")
    shared = os.environ.get("ENGRAM_SHARED_DATA")
    if not shared:
        sys.exit("locomo_context_probe: set ENGRAM_SHARED_DATA")
    with open(os.path.join(shared, "locomo", "locomo.shared.json"), encoding="utf-8") as f:
        conversations = json.load(f)
    work = tempfile.mkdtemp(prefix="engram-context-probe-")
    try:
        for v in variants:
            recall, by_category = (probe_split(*v.split(":"), conversations, work) if split
                                   else probe(v, conversations, work))
            cats = " ".join(f"{k}:{r:.3f}" for k, r in by_category.items())
            print(f"{v:16s} recall@10 {recall:.4f}   by category {cats}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
