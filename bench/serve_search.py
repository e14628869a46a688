#!/usr/bin/env python3
"""SQuAD recall and latency of `engram serve`'s collection search over HTTP, plain and with the
language model reranker ("rerank": N), on the same questions in one run.

    bench/serve_search.py --collection-dir DIR [--squad FILE] [--stride 9] [--rerank 5] [--json]

DIR is a collection that `engram eval retrieval --squad FILE --distractors ... --work-dir DIR`
built (its paragraphs' sources are "squad:<paragraph index>", the eval's order). The script
copies it into a temporary data directory, starts `engram serve --port 0` on it, and asks every
`--stride`th question twice: {"query", "k": 20} and the same with "rerank". A question's rank is
its paragraph's among the hits' documents (as `engram eval retrieval` ranks them). Standard library only; the server runs with its
default generator and threads.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def die(message):
    print(f"serve_search: error: {message}", file=sys.stderr)
    sys.exit(2)


def squad_questions(path, stride):
    """(question, paragraph index) for every stride-th question, in `engram eval`'s order."""
    with open(path, encoding="utf-8") as f:
        articles = json.load(f)["data"]
    out, index = [], 0
    for article in articles:
        for paragraph in article["paragraphs"]:
            out.extend((qa["question"], index) for qa in paragraph["qas"])
            index += 1
    return out[::stride]


def start_server(engram, data_dir, threads):
    log = open(os.path.join(data_dir, "serve.log"), "w+", encoding="utf-8")
    cmd = [engram, "--data-dir", data_dir, "serve", "--port", "0"]
    if threads:
        cmd += ["--threads", str(threads)]
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        log.seek(0)
        found = re.search(r"listening on http://[^:]+:(\d+)", log.read())
        if found:
            return server, f"http://127.0.0.1:{found.group(1)}"
        if server.poll() is not None:
            log.seek(0)
            die(f"engram serve exited ({server.returncode}): {log.read().strip()}")
        time.sleep(0.2)
    server.kill()
    die("engram serve did not start listening within 120 s")


def search(url, collection, body):
    request = urllib.request.Request(
        f"{url}/v1/collections/{collection}/search", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            results = json.load(response)["results"]
    except urllib.error.HTTPError as e:
        die(f"search answered {e.code}: {e.read().decode(errors='replace')}")
    return results, (time.perf_counter() - start) * 1000.0


def rank_of(results, paragraph):
    documents = []
    for hit in results:
        if hit["document_id"] not in documents:
            documents.append(hit["document_id"])
            if hit["source"] == f"squad:{paragraph}":
                return len(documents)
    return None


def figures(ranks, ms):
    n = len(ranks)
    return {"recall@1": sum(r == 1 for r in ranks) / n,
            "recall@5": sum(r is not None and r <= 5 for r in ranks) / n,
            "ms_p50": statistics.median(ms),
            "ms_p99": sorted(ms)[min(n - 1, int(0.99 * n))]}


def main():
    shared = os.environ.get("ENGRAM_SHARED_DATA", os.path.join(os.getcwd(), "..", "shared", "data"))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--collection-dir", required=True)
    p.add_argument("--squad", default=os.path.join(shared, "squad", "dev-v1.1.shared.json"))
    p.add_argument("--engram", default="build/bin/engram")
    p.add_argument("--stride", type=int, default=9)
    p.add_argument("--rerank", type=int, default=5)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    if not os.path.isfile(os.path.join(a.collection_dir, "db", "CURRENT")):
        die(f"'{a.collection_dir}' is not a collection (build one with engram eval retrieval "
            "--work-dir)")
    if not os.access(a.engram, os.X_OK):
        die(f"no engram at '{a.engram}' (build first, or pass --engram)")
    if a.stride < 1 or not 1 <= a.rerank <= 100:
        die("--stride must be >= 1 and --rerank within 1..100")
    questions = squad_questions(a.squad, a.stride)

    with tempfile.TemporaryDirectory(prefix="engram-serve-search-") as data_dir:
        shutil.copytree(a.collection_dir, os.path.join(data_dir, "collections", "squad"))
        server, url = start_server(a.engram, data_dir, a.threads)
        try:
            ranks = {"plain": [], "reranked": []}
            ms = {"plain": [], "reranked": []}
            for question, paragraph in questions:
                for name, extra in (("plain", {}), ("reranked", {"rerank": a.rerank})):
                    results, took = search(url, "squad", {"query": question, "k": 20, **extra})
                    ranks[name].append(rank_of(results, paragraph))
                    ms[name].append(took)
        finally:
            server.terminate()
            server.wait(timeout=60)
    out = {"questions": len(questions), "stride": a.stride, "rerank": a.rerank,
           **{name: figures(ranks[name], ms[name]) for name in ranks}}
    if a.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{len(questions)} questions (every {a.stride}th), k 20, rerank {a.rerank}")
    for name in ranks:
        f = out[name]
        print(f"{name:9s} recall@1 {f['recall@1']:.3f}  recall@5 {f['recall@5']:.3f}  "
              f"p50 {f['ms_p50']:.1f} ms  p99 {f['ms_p99']:.1f} ms")


if __name__ == "__main__":
    main()
