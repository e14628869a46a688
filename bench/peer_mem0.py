#!/usr/bin/env python3
"""engram's memory store against Mem0 (mem0ai) on LoCoMo, in one run, with the same embedder.

The data is read as `engram eval memory` reads it (bench/memory_eval.cc): each conversation is one
namespace (a Mem0 user_id), each turn of each session_N one memory whose text is "<speaker>:
<text>" (and " [shared <blip_caption>]" when the turn shares an image), with its dia_id as metadata
(and, for engram, the session's date as timestamp); every question with evidence is a search in its
conversation's namespace, and evidence recall@k is the share of the question's evidence dia_ids
among the top k hits, averaged over questions, overall and per LoCoMo category. Both systems embed
with all-MiniLM-L6-v2 from the same local directory; neither calls an LLM (Mem0 adds with
infer=False: each message is embedded and inserted as given, one at a time, list or not).
Recall is scored through the ids each add returns (engram's count from 1 per namespace, so the
key is (namespace, id)); the per-turn adds also carry the dia_id as metadata.

What each system ranks by: engram, its default combined score (cosine, BM25, recency,
importance; the Python API measures recency from the wall clock, where `eval memory` measures
it from the conversation's last session). Mem0 2.x adds BM25 (fastembed's "Qdrant/bm25") and
entity boosts (spaCy's en_core_web_sm) only with `mem0ai[nlp,extras]`, whose models download
at run time; offline, with `pip install mem0ai`, it ranks by cosine alone (threshold 0.1, its
default) and says so in its log.

Each measurement runs in its own child process (`--system mem0|engram --add-mode turn|session`)
so that memory use is attributable; the parent runs the children in alternation (Mem0, engram,
Mem0, engram, ...) for --rounds rounds and prints a Markdown table (or, with --json, one JSON
object) of the medians. Run it through bench/peer_mem0.sh, which builds the venv; on its own:
  .venv-bench-mem0/bin/python bench/peer_mem0.py [--locomo FILE] [--conversations N]
      [--rounds R] [--work-dir DIR] [--torch-threads N] [--engram-precision P] [--json]
      [--save FILE]
"""
import argparse
import calendar
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# Nothing may reach the network: the model is a local directory, Mem0's telemetry is off.
OFFLINE_ENV = {"MEM0_TELEMETRY": "False", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false"}
# One search per question at SEARCH_K (timed); recall@k from its first k hits. k = 25 is left
# out: a Mem0 search costs about 0.2 s here, and a second pass would add minutes per run.
SEARCH_K = 10
KS = (5, 10)
SYSTEMS = ("mem0", "engram")
ADD_MODES = ("turn", "session")
SESSION_KEY = re.compile(r"session_(\d{1,6})")


# ---------------------------------------------------------------- LoCoMo, as eval memory reads it

def parse_locomo_time(text):
    """'1:56 pm on 8 May, 2023' -> Unix epoch ms, read as UTC (ParseLocomoDateTime)."""
    parsed = time.strptime(text, "%I:%M %p on %d %B, %Y")
    return calendar.timegm(parsed) * 1000


def evidence_ids(entries):
    """['D8:6; D9:17', 'D1:3'] -> ['D8:6', 'D9:17', 'D1:3'] (a few entries list two ids)."""
    return [part.strip(" \t") for entry in entries for part in entry.split(";")
            if part.strip(" \t")]


def turn_text(turn):
    """"<speaker>: <text>", with the caption of an image the turn shares (bench/locomo.h)."""
    text = f"{turn.get('speaker', '')}: {turn.get('text', '')}"
    caption = turn.get("blip_caption", "")
    return f"{text} [shared {caption}]" if caption else text


def read_conversation(item):
    """One LoCoMo item -> {"id", "sessions": [{"key", "time_ms", "turns"}], "questions"}."""
    numbers = sorted(int(m.group(1)) for key, value in item.items()
                     if (m := SESSION_KEY.fullmatch(key)) and isinstance(value, list))
    sessions = []
    for number in numbers:
        key = f"session_{number}"
        turns = [{"dia_id": t.get("dia_id", ""), "text": turn_text(t)} for t in item[key]]
        sessions.append({"key": key, "time_ms": parse_locomo_time(item[f"{key}_date_time"]),
                         "turns": turns})
    questions = []
    for qa in item["qa"]:
        evidence = evidence_ids(qa.get("evidence", []))
        if evidence and qa.get("question"):
            category = str(qa["category"]) if "category" in qa else "?"
            questions.append({"text": qa["question"], "category": category,
                              "evidence": evidence})
    return {"id": str(item["sample_id"]), "sessions": sessions, "questions": questions}


def read_locomo(path, limit):
    """The first `limit` conversations of the LoCoMo file (all when limit is None)."""
    with open(path, encoding="utf-8") as f:
        items = json.load(f)
    if not items:
        sys.exit(f"peer_mem0: LoCoMo file '{path}' holds no conversations")
    return [read_conversation(item) for item in items[:limit]]


# ---------------------------------------------------------------- the two systems

class Mem0Store:
    """Mem0 with its default vector store, Qdrant, in embedded (path) mode (qdrant-client's
    in-process store: exact search in numpy, points kept in a SQLite file), and its SQLite
    history database; the huggingface embedder on the local model directory."""

    @staticmethod
    def load_library():
        import mem0  # noqa: F401

    def __init__(self, model_dir, store_dir, args):
        from mem0 import Memory
        if args.torch_threads:
            import torch
            torch.set_num_threads(args.torch_threads)
        self.vector_dir = os.path.join(store_dir, "qdrant")
        self.history_db = os.path.join(store_dir, "history.db")
        self.memory = Memory.from_config({
            "embedder": {"provider": "huggingface",
                         "config": {"model": model_dir, "embedding_dims": 384}},
            "vector_store": {"provider": "qdrant",
                             "config": {"path": self.vector_dir, "collection_name": "locomo",
                                        "embedding_model_dims": 384}},
            # Built by Mem0 but never called: infer=False adds without the LLM.
            "llm": {"provider": "openai", "config": {"api_key": "unused-offline"}},
            "history_db_path": self.history_db,
        })

    def add_turn(self, namespace, session, turn):
        result = self.memory.add(turn["text"], user_id=namespace, infer=False,
                                 metadata={"dia_id": turn["dia_id"], "session": session["key"]})
        return [r["id"] for r in result["results"]]

    def add_session(self, namespace, session):
        messages = [{"role": "user", "content": t["text"]} for t in session["turns"]]
        result = self.memory.add(messages, user_id=namespace, infer=False,
                                 metadata={"session": session["key"]})
        return [r["id"] for r in result["results"]]

    def search(self, namespace, query, k):
        hits = self.memory.search(query, top_k=k, filters={"user_id": namespace})
        return [h["id"] for h in hits["results"]]

    def disk_paths(self):
        return [self.vector_dir, self.history_db]

    def close(self):
        self.memory.close()


class EngramStore:
    """engram.Memory with its defaults (combined score), given the same model directory, and
    the embedder arithmetic of --engram-precision (default "auto": f32 here, as
    sentence-transformers computes)."""

    @staticmethod
    def load_library():
        import engram  # noqa: F401

    def __init__(self, model_dir, store_dir, args):
        import engram
        self.path = os.path.join(store_dir, "engram")
        self.memory = engram.Memory(self.path, embedder=model_dir,
                                    precision=args.engram_precision)

    def add_turn(self, namespace, session, turn):
        return list(self.memory.add(turn["text"], namespace=namespace, session=session["key"],
                                    metadata={"dia_id": turn["dia_id"]},
                                    timestamp_ms=session["time_ms"]))

    def add_session(self, namespace, session):
        messages = [{"role": "user", "content": t["text"]} for t in session["turns"]]
        return list(self.memory.add(messages, namespace=namespace, session=session["key"],
                                    timestamp_ms=session["time_ms"]))

    def search(self, namespace, query, k):
        return [h["id"] for h in self.memory.search(query, namespace=namespace, k=k)]

    def disk_paths(self):
        return [self.path]

    def close(self):
        self.memory.close()


STORES = {"mem0": Mem0Store, "engram": EngramStore}


# ---------------------------------------------------------------- measuring, in the child

def rss_mb():
    """The process's resident set now, MB (VmRSS)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def disk_bytes(paths):
    """Bytes of the files under `paths` (files or folders)."""
    total = 0
    for path in paths:
        if os.path.isfile(path):
            total += os.path.getsize(path)
        for root, _, files in os.walk(path):
            total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def percentile(values, q):
    """The q-quantile, nearest rank (as bench/stats.cc)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def add_calls(store, namespace, session, mode):
    """One session's add calls: (the turns a call adds, the call), per turn or one per session."""
    if mode == "session":
        return [(session["turns"], lambda: store.add_session(namespace, session))]
    return [([t], lambda t=t: store.add_turn(namespace, session, t)) for t in session["turns"]]


def add_all(store, conversations, mode):
    """Adds every turn; returns ({(namespace, memory id): dia_id}, seconds in all, each call's
    ms). engram's ids count from 1 in each namespace, so an id alone is not unique."""
    dia_of, call_ms = {}, []
    start = time.perf_counter()
    for c in conversations:
        for session in c["sessions"]:
            for turns, call in add_calls(store, c["id"], session, mode):
                t0 = time.perf_counter()
                ids = call()
                call_ms.append((time.perf_counter() - t0) * 1000)
                if len(ids) != len(turns):
                    raise RuntimeError(f"add returned {len(ids)} ids for {len(turns)} turns")
                dia_of.update(((c["id"], i), t["dia_id"]) for i, t in zip(ids, turns))
    return dia_of, time.perf_counter() - start, call_ms


def recall_tally(conversations, store, dia_of):
    """Evidence recall@k for k in KS (prefixes of one search at SEARCH_K) and each search's ms."""
    sums = {k: 0.0 for k in KS}
    by_category, latency_ms = {}, []
    for c in conversations:
        for q in c["questions"]:
            t0 = time.perf_counter()
            hits = store.search(c["id"], q["text"], SEARCH_K)
            latency_ms.append((time.perf_counter() - t0) * 1000)
            cat = by_category.setdefault(q["category"], {"questions": 0, **{k: 0.0 for k in KS}})
            cat["questions"] += 1
            for k in KS:
                found = {dia_of.get((c["id"], h)) for h in hits[:k]}
                recall = sum(e in found for e in q["evidence"]) / len(q["evidence"])
                sums[k] += recall
                cat[k] += recall
    n = sum(len(c["questions"]) for c in conversations)
    recall = {f"recall@{k}": sums[k] / max(n, 1) for k in KS}
    recall["by_category"] = {
        name: {"questions": cat["questions"],
               **{f"recall@{k}": cat[k] / cat["questions"] for k in KS}}
        for name, cat in sorted(by_category.items())}
    return recall, latency_ms


def run_child(args):
    """One system, one add mode, a fresh store: prints one JSON object. The per-turn run also
    searches (recall and latency); the per-session run only adds (the same memories, so the same
    recall, and a Mem0 search pass costs minutes)."""
    rss_start = rss_mb()
    store_dir = tempfile.mkdtemp(prefix=f"peer-mem0-{args.system}-", dir=args.work_dir)
    # Mem0 keeps a config file under MEM0_DIR (default ~/.mem0): into the scratch folder.
    os.environ["MEM0_DIR"] = os.path.join(store_dir, "mem0-home")
    try:
        conversations = read_locomo(args.locomo, args.conversations)
        STORES[args.system].load_library()
        rss_import = rss_mb()
        t0 = time.perf_counter()
        store = STORES[args.system](args.model, store_dir, args)
        open_s = time.perf_counter() - t0
        rss_open = rss_mb()
        dia_of, add_s, call_ms = add_all(store, conversations, args.add_mode)
        out = {
            "system": args.system, "add_mode": args.add_mode,
            "turns": len(dia_of), "questions": sum(len(c["questions"]) for c in conversations),
            "conversations": len(conversations), "add_calls": len(call_ms),
            "add_s": add_s, "add_turns_per_s": len(dia_of) / add_s,
            "add_call_ms_p50": percentile(call_ms, 0.5),
            "add_call_ms_p99": percentile(call_ms, 0.99),
            "open_s": open_s,
        }
        if args.add_mode == "turn":
            out["recall"], latency_ms = recall_tally(conversations, store, dia_of)
            out["search_ms_p50"] = percentile(latency_ms, 0.5)
            out["search_ms_p99"] = percentile(latency_ms, 0.99)
        store.close()
        out["disk_bytes"] = disk_bytes(store.disk_paths())
        out["rss_mb"] = {"start": rss_start, "after_import": rss_import, "after_open": rss_open,
                         "peak": peak_rss_mb()}
        out["versions"] = versions(args.system)
        print(json.dumps(out))
    finally:
        shutil.rmtree(store_dir, ignore_errors=True)


def versions(system):
    """The versions that matter for `system`."""
    from importlib.metadata import version
    names = (["mem0ai", "qdrant-client", "sentence-transformers", "torch"]
             if system == "mem0" else ["engram"])
    out = {name: version(name) for name in names}
    if system == "mem0":
        import torch
        out["torch_threads"] = torch.get_num_threads()
    return out


# ---------------------------------------------------------------- the parent: run, summarise, print

def child_command(args, system, mode):
    cmd = [sys.executable, os.path.abspath(__file__), "--system", system, "--add-mode", mode,
           "--locomo", args.locomo, "--model", args.model]
    if args.conversations:
        cmd += ["--conversations", str(args.conversations)]
    if args.work_dir:
        cmd += ["--work-dir", args.work_dir]
    if args.torch_threads:
        cmd += ["--torch-threads", str(args.torch_threads)]
    return cmd + ["--engram-precision", args.engram_precision]


def run_children(args):
    """Every (round, add mode, system) once, the systems alternating; returns the child JSONs."""
    runs = []
    env = {**os.environ, **OFFLINE_ENV}
    for r in range(args.rounds):
        for mode in ADD_MODES:
            for system in SYSTEMS:
                print(f"peer_mem0: round {r + 1}/{args.rounds}: {system}, one add per {mode} ...",
                      file=sys.stderr, flush=True)
                done = subprocess.run(child_command(args, system, mode), env=env,
                                      capture_output=True, text=True)
                if done.returncode != 0:
                    sys.stderr.write(done.stderr[-4000:])
                    sys.exit(f"peer_mem0: the {system} child ({mode}) failed")
                run = json.loads(done.stdout.strip().splitlines()[-1])
                runs.append({"round": r + 1, **run})
                print(f"peer_mem0:   {run['add_turns_per_s']:.1f} turns/s"
                      + (f", recall@10 {run['recall']['recall@10']:.3f}, search p50/p99 "
                         f"{run['search_ms_p50']:.1f}/{run['search_ms_p99']:.1f} ms"
                         if "recall" in run else ""), file=sys.stderr, flush=True)
    return runs


def median_of(runs, key):
    return statistics.median(run[key] for run in runs)


def summarise(runs, system):
    """Medians over a system's children; recall, search and memory from its per-turn runs."""
    per_turn = [r for r in runs if r["system"] == system and r["add_mode"] == "turn"]
    per_session = [r for r in runs if r["system"] == system and r["add_mode"] == "session"]
    out = {"recall": per_turn[0]["recall"],
           "recall_same_every_round": all(r["recall"] == per_turn[0]["recall"] for r in per_turn),
           "versions": per_turn[0]["versions"]}
    for mode, mine in (("turn", per_turn), ("session", per_session)):
        out[f"add_turns_per_s_per_{mode}"] = median_of(mine, "add_turns_per_s")
        out[f"add_call_ms_p50_per_{mode}"] = median_of(mine, "add_call_ms_p50")
    for key in ("search_ms_p50", "search_ms_p99", "disk_bytes", "open_s"):
        out[key] = median_of(per_turn, key)
    out["rss_mb"] = {key: statistics.median(r["rss_mb"][key] for r in per_turn)
                     for key in per_turn[0]["rss_mb"]}
    return out


def machine():
    cpu = platform.processor()
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f
                    if line.startswith("model name")), cpu)
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    return {"cpu": cpu, "nproc": os.cpu_count(), "load_average_at_end": load,
            "python": platform.python_version()}


def git_commit():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def best_add(s):
    """A system's add throughput the faster of its two ways."""
    return max(s["add_turns_per_s_per_turn"], s["add_turns_per_s_per_session"])


def targets(mem0, engram):
    """The issue's three targets, each with whether it is met."""
    return {
        "recall@10 above Mem0's": engram["recall"]["recall@10"] > mem0["recall"]["recall@10"],
        "search p99 at most 1/5 of Mem0's": engram["search_ms_p99"] <= mem0["search_ms_p99"] / 5,
        "adds at least 10x Mem0's throughput (each system's faster way)":
            best_add(engram) >= 10 * best_add(mem0),
    }


def compare(mem0, engram, better):
    """engram against Mem0 in words: "engram 12.3x faster" (better: "higher" or "lower")."""
    if not mem0 or not engram:
        return "-"
    ahead = engram >= mem0 if better == "higher" else engram <= mem0
    factor = max(engram, mem0) / min(engram, mem0)
    words = {("higher", True): "higher", ("higher", False): "lower",
             ("lower", True): "less", ("lower", False): "more"}
    return f"engram {factor:.2f}x {words[(better, ahead)]}"


def table_rows(m, e):
    """(what, Mem0, engram, engram against Mem0) rows of the table."""
    rows = []
    for k in KS:
        a, b = m["recall"][f"recall@{k}"], e["recall"][f"recall@{k}"]
        rows.append((f"evidence recall@{k}", f"{a:.3f}", f"{b:.3f}", f"{b - a:+.3f}"))
    for cat, cm in m["recall"]["by_category"].items():
        a, b = cm["recall@10"], e["recall"]["by_category"][cat]["recall@10"]
        rows.append((f"recall@10, category {cat} ({cm['questions']} questions)", f"{a:.3f}",
                     f"{b:.3f}", f"{b - a:+.3f}"))
    for mode in ADD_MODES:
        a, b = m[f"add_turns_per_s_per_{mode}"], e[f"add_turns_per_s_per_{mode}"]
        rows.append((f"add, one call per {mode} (turns/s)", f"{a:.1f}", f"{b:.1f}",
                     compare(a, b, "higher")))
        a, b = m[f"add_call_ms_p50_per_{mode}"], e[f"add_call_ms_p50_per_{mode}"]
        rows.append((f"add, one call per {mode}: p50 of a call (ms)", f"{a:.2f}", f"{b:.2f}",
                     compare(a, b, "lower")))
    for q in ("p50", "p99"):
        a, b = m[f"search_ms_{q}"], e[f"search_ms_{q}"]
        rows.append((f"search k={SEARCH_K} {q} (ms, query embedding included)", f"{a:.2f}",
                     f"{b:.2f}", compare(a, b, "lower")))
    a, b = m["disk_bytes"], e["disk_bytes"]
    rows.append(("disk after the per-turn run (MB)", f"{a / 1e6:.2f}", f"{b / 1e6:.2f}",
                 compare(a, b, "lower")))
    for key, label in (("after_import", "RSS after importing the library"),
                       ("after_open", "RSS after opening the store (model loaded)"),
                       ("peak", "peak RSS")):
        a, b = m["rss_mb"][key], e["rss_mb"][key]
        rows.append((f"{label} (MB)", f"{a:.0f}", f"{b:.0f}", compare(a, b, "lower")))
    return rows


def markdown(result):
    """The comparison table and the targets, as Markdown."""
    m, e = result["systems"]["mem0"], result["systems"]["engram"]
    mv, ev = m["versions"], e["versions"]
    data, mach = result["data"], result["machine"]
    lines = [f"LoCoMo ({os.path.basename(result['locomo'])}): {data['conversations']} "
             f"conversations, {data['turns']} turns, {data['questions']} questions with "
             f"evidence; median of {result['rounds']} round(s)",
             f"machine: {mach['cpu']}, nproc {mach['nproc']}, load average at the end "
             f"{' '.join(mach['load_average_at_end'])}; {result['date']}; "
             f"engram commit {result['commit']}",
             f"Mem0 {mv['mem0ai']} (qdrant-client {mv['qdrant-client']}, sentence-transformers "
             f"{mv['sentence-transformers']}, torch {mv['torch']}, torch threads "
             f"{mv['torch_threads']}) | engram {ev['engram']}, embedder precision "
             f"{result['engram_precision']}", "",
             "| | Mem0 | engram | engram vs Mem0 |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in table_rows(m, e)]
    lines.append("")
    lines += [f"- {name}: {'met' if met else 'NOT met'}" for name, met in result["targets"].items()]
    return "\n".join(lines)


def run_parent(args):
    runs = run_children(args)
    mem0, engram = summarise(runs, "mem0"), summarise(runs, "engram")
    result = {
        "bench": "peer_mem0", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": git_commit(), "machine": machine(), "locomo": args.locomo,
        "rounds": args.rounds, "engram_precision": args.engram_precision,
        "data": {k: runs[0][k] for k in ("conversations", "turns", "questions")},
        "config": {
            "model": os.path.basename(args.model), "episode_text": "<speaker>: <text> [shared <image caption>]",
            "mem0": "qdrant embedded (path), SQLite history, huggingface embedder, "
                    "add(infer=False), search(top_k, filters={user_id}) with its defaults",
            "mem0_torch_threads": args.torch_threads or "torch's default",
            "engram": "engram.Memory defaults (combined score; recency from the wall clock), "
                      f"embedder precision {args.engram_precision}",
            "search": f"one search per question at k={SEARCH_K}: its latency, and recall@k "
                      "from its first k hits"},
        "systems": {"mem0": mem0, "engram": engram},
        "targets": targets(mem0, engram),
        "runs": runs,
    }
    if args.save:
        with open(args.save, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2) if args.json else markdown(result))


def default_locomo():
    shared = os.environ.get("ENGRAM_SHARED_DATA")
    return os.path.join(shared, "locomo", "locomo.shared.json") if shared else None


def default_model():
    models = os.environ.get("ENGRAM_MODELS_DIR") or os.path.expanduser("~/.cache/engram/models")
    return os.path.join(models, "all-MiniLM-L6-v2")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--locomo", default=default_locomo(),
                    help="LoCoMo JSON (default $ENGRAM_SHARED_DATA/locomo/locomo.shared.json)")
    ap.add_argument("--conversations", type=int, help="only the first N conversations")
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds (median)")
    ap.add_argument("--work-dir", help="where the stores go (default: the temp folder)")
    ap.add_argument("--model", default=default_model(),
                    help="all-MiniLM-L6-v2 folder (default $ENGRAM_MODELS_DIR/all-MiniLM-L6-v2)")
    ap.add_argument("--torch-threads", type=int,
                    help="Mem0's torch threads (default: torch's, one per core); 1 helps on a "
                         "loaded machine, where two spinning threads slow torch several fold")
    ap.add_argument("--engram-precision", default="auto", choices=("auto", "f32", "bf16", "int8"),
                    help="engram's embedder arithmetic (engram.Memory's precision; int8 is the "
                         "fast one where the CPU has AVX512_VNNI)")
    ap.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    ap.add_argument("--save", metavar="FILE", help="also write the JSON object to FILE")
    ap.add_argument("--system", choices=SYSTEMS, help=argparse.SUPPRESS)
    ap.add_argument("--add-mode", choices=ADD_MODES, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.locomo:
        ap.error("no LoCoMo file: set ENGRAM_SHARED_DATA or pass --locomo FILE")
    if not os.path.isfile(args.locomo):
        ap.error(f"no LoCoMo file at '{args.locomo}'")
    if not os.path.isdir(args.model):
        ap.error(f"no embedder at '{args.model}'; run scripts/fetch_models.sh")
    if args.torch_threads is not None and args.torch_threads < 1:
        ap.error("--torch-threads needs a positive count")
    if args.rounds < 1:
        ap.error("--rounds needs a positive count")
    if args.conversations is not None and args.conversations < 1:
        ap.error("--conversations needs a positive count")
    return args


def main():
    args = parse_args()
    os.environ.update(OFFLINE_ENV)
    if args.system:
        run_child(args)
    else:
        run_parent(args)


if __name__ == "__main__":
    main()
