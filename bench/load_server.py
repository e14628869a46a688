#!/usr/bin/env python3
"""Load benchmark of OpenAI-compatible chat servers: one client for engram serve and its peer.

For each concurrency (default 1, 8, 32) and each server in turn (interleaved, so drift on a
shared machine hits both), `concurrency` threads each send streamed chat completions (short
prompts, --max-tokens new tokens, greedy) back to back until `requests` have finished. Reported
per server and concurrency: aggregate generated tokens/s (all tokens / wall time), time to
first token p50/p99, request latency p50/p99, failures, and the server's RSS before and after.

Then (engram only, --sessions N --turns T): N concurrent agent sessions of T turns each
(POST /v1/sessions, /v1/sessions/{id}/messages); turn 1 tells a fact, the last turn asks for it,
and the fact's episode must be among the turn's `recalled` ids. Reports failures, recall, turn
latency p50/p99 and RSS before/after.

Only the standard library: http.client over raw sockets, server-sent events parsed by hand.
Prints a table, or one JSON object with --json. Used by bench/load_server.sh, which starts the
servers; run directly against servers you started yourself:
  bench/load_server.py --server engram=http://127.0.0.1:8080,KEY,PID \\
                       --server llama.cpp=http://127.0.0.1:8081,,PID
"""
import argparse
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse

TOPICS = ["a lighthouse keeper", "a lost robot", "the first snow", "a market in Lisbon",
          "a chess match", "a river journey", "an old bakery", "a comet", "a violin maker",
          "a desert fox", "a night train", "a mountain village"]


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def rss_mb(pid):
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


class Server:
    def __init__(self, spec):
        name, rest = spec.split("=", 1)
        url, key, pid = (rest.split(",") + ["", ""])[:3]
        self.name, self.key, self.pid = name, key, int(pid) if pid else 0
        parsed = urllib.parse.urlparse(url)
        self.host, self.port = parsed.hostname, parsed.port

    def connect(self, timeout=600):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def headers(self):
        h = {"Content-Type": "application/json"}
        if self.key:
            h["Authorization"] = "Bearer " + self.key
        return h

    def post_json(self, path, body, conn=None):
        own = conn is None
        conn = conn or self.connect()
        try:
            conn.request("POST", path, body=json.dumps(body), headers=self.headers())
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, json.loads(data) if data else None
        finally:
            if own:
                conn.close()

    def get_json(self, path):
        conn = self.connect()
        try:
            conn.request("GET", path, headers=self.headers())
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read() or b"null")
        finally:
            conn.close()


def stream_chat(server, prompt, max_tokens):
    """One streamed chat completion: (ok, ttft_s, latency_s, tokens, error)."""
    body = {"model": "default", "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    start = time.perf_counter()
    ttft, chunks, usage_tokens = None, 0, None
    conn = server.connect()
    try:
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body),
                     headers=server.headers())
        resp = conn.getresponse()
        if resp.status != 200:
            return False, None, time.perf_counter() - start, 0, f"HTTP {resp.status}: {resp.read()[:200]!r}"
        done = False
        while not done:
            line = resp.readline()
            if not line:
                break
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                done = True
                break
            event = json.loads(data)
            if "error" in event:
                return False, ttft, time.perf_counter() - start, chunks, str(event["error"])
            if event.get("usage"):
                usage_tokens = event["usage"].get("completion_tokens")
            for choice in event.get("choices") or []:
                content = (choice.get("delta") or {}).get("content")
                if content:
                    chunks += 1
                    if ttft is None:
                        ttft = time.perf_counter() - start
        if not done:
            return False, ttft, time.perf_counter() - start, chunks, "stream ended without [DONE]"
    except (OSError, http.client.HTTPException, ValueError) as e:
        return False, ttft, time.perf_counter() - start, chunks, repr(e)
    finally:
        conn.close()
    # Servers that send no usage in a stream send one token per chunk (llama.cpp's does).
    tokens = usage_tokens if usage_tokens is not None else chunks
    return True, ttft, time.perf_counter() - start, tokens, None


def run_load(server, concurrency, requests, max_tokens):
    results, lock = [], threading.Lock()
    counter = iter(range(requests))

    def worker():
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            prompt = f"Tell me a short story about {TOPICS[i % len(TOPICS)]}."
            r = stream_chat(server, prompt, max_tokens)
            with lock:
                results.append(r)

    rss_before = rss_mb(server.pid)
    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ok = [r for r in results if r[0]]
    tokens = sum(r[3] for r in ok)
    errors = [r[4] for r in results if not r[0]]
    return {
        "server": server.name, "concurrency": concurrency, "requests": len(results),
        "failures": len(errors), "errors": errors[:3], "wall_s": wall, "tokens": tokens,
        "tokens_per_s": tokens / wall if wall > 0 else 0.0,
        "ttft_p50_s": percentile([r[1] for r in ok if r[1] is not None], 50),
        "ttft_p99_s": percentile([r[1] for r in ok if r[1] is not None], 99),
        "latency_p50_s": percentile([r[2] for r in ok], 50),
        "latency_p99_s": percentile([r[2] for r in ok], 99),
        "rss_before_mb": rss_before, "rss_after_mb": rss_mb(server.pid),
    }


def run_session(server, index, turns, max_tokens, out, lock):
    """One agent session: fact in turn 1, fillers, the question in the last turn."""
    record = {"failures": 0, "latencies": [], "recalled": False, "errors": []}
    code = f"K{index:03d}-{(index * 7919) % 10000:04d}"
    status, session = server.post_json("/v1/sessions", {"title": f"load {index}"})
    if status not in (200, 201):
        record["failures"] += 1
        record["errors"].append(f"create: HTTP {status} {session}")
        with lock:
            out.append(record)
        return
    sid = session["id"]
    for turn in range(turns):
        if turn == 0:
            text = f"Please remember this: my locker code is {code}."
        elif turn == turns - 1:
            text = "What is my locker code?"
        else:
            text = f"Tell me one fact about {TOPICS[(index + turn) % len(TOPICS)]}."
        start = time.perf_counter()
        try:
            status, reply = server.post_json(f"/v1/sessions/{sid}/messages",
                                             {"content": text, "max_tokens": max_tokens})
        except (OSError, http.client.HTTPException, ValueError) as e:
            status, reply = 0, repr(e)
        record["latencies"].append(time.perf_counter() - start)
        if status != 200:
            record["failures"] += 1
            record["errors"].append(f"turn {turn}: HTTP {status} {str(reply)[:200]}")
            continue
        if turn == turns - 1:
            code_status, info = server.get_json(f"/v1/sessions/{sid}")
            fact_ids = {m.get("id") for m in (info or {}).get("messages", [])
                        if code in (m.get("content") or m.get("text") or "")
                        and m.get("role") == "user"}
            record["recalled"] = bool(fact_ids & set(reply.get("recalled") or []))
    with lock:
        out.append(record)


def run_sessions(server, sessions, turns, max_tokens):
    out, lock = [], threading.Lock()
    rss_before = rss_mb(server.pid)
    start = time.perf_counter()
    threads = [threading.Thread(target=run_session, args=(server, i, turns, max_tokens, out, lock))
               for i in range(sessions)]
    # RSS every second while the sessions run: flat means it levels off once the KV cache
    # blocks the peak load needs have been touched, instead of growing turn after turn.
    samples, running = [], threading.Event()
    running.set()

    def sample():
        while running.is_set():
            samples.append(rss_mb(server.pid))
            time.sleep(1.0)

    sampler = threading.Thread(target=sample)
    sampler.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    running.clear()
    sampler.join()
    samples = [x for x in samples if x is not None]
    quarters = [samples[min(len(samples) - 1, (len(samples) * q) // 4)] for q in (1, 2, 3, 4)] \
        if samples else []
    latencies = [x for r in out for x in r["latencies"]]
    return {
        "server": server.name, "sessions": sessions, "turns": turns,
        "wall_s": time.perf_counter() - start,
        "failures": sum(r["failures"] for r in out),
        "errors": [e for r in out for e in r["errors"]][:5],
        "recalled": sum(1 for r in out if r["recalled"]),
        "turn_p50_s": percentile(latencies, 50), "turn_p99_s": percentile(latencies, 99),
        "rss_before_mb": rss_before, "rss_after_mb": rss_mb(server.pid),
        "rss_quarters_mb": quarters,
    }


def fmt(v, unit=""):
    if v is None:
        return "-"
    return f"{v:.2f}{unit}" if isinstance(v, float) else f"{v}{unit}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--server", action="append", required=True,
                   help="NAME=URL,KEY,PID (KEY and PID may be empty); first is engram")
    p.add_argument("--concurrency", default="1,8,32")
    p.add_argument("--requests", type=int, default=0,
                   help="requests per run (default: 3 × concurrency, at least 4)")
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--rounds", type=int, default=1, help="interleaved repeats; medians reported")
    p.add_argument("--sessions", type=int, default=0)
    p.add_argument("--turns", type=int, default=20)
    p.add_argument("--session-max-tokens", type=int, default=32)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    servers = [Server(s) for s in args.server]
    runs = []
    for c in [int(x) for x in args.concurrency.split(",")]:
        n = args.requests or max(4, 3 * c)
        for _ in range(args.rounds):
            for server in servers:
                r = run_load(server, c, n, args.max_tokens)
                runs.append(r)
                print(f"load: {r['server']} c={c}: {r['tokens_per_s']:.1f} tok/s, "
                      f"failures {r['failures']}", file=sys.stderr)
    summary = []
    for c in sorted({r["concurrency"] for r in runs}):
        for server in servers:
            mine = [r for r in runs if r["concurrency"] == c and r["server"] == server.name]
            row = {"server": server.name, "concurrency": c}
            for key in ("tokens_per_s", "ttft_p50_s", "ttft_p99_s", "latency_p50_s",
                        "latency_p99_s"):
                values = [r[key] for r in mine if r[key] is not None]
                row[key] = statistics.median(values) if values else None
            row["failures"] = sum(r["failures"] for r in mine)
            row["rss_before_mb"] = mine[0]["rss_before_mb"]
            row["rss_after_mb"] = mine[-1]["rss_after_mb"]
            summary.append(row)
    sessions = None
    if args.sessions:
        sessions = run_sessions(servers[0], args.sessions, args.turns, args.session_max_tokens)
    result = {"max_tokens": args.max_tokens, "rounds": args.rounds, "summary": summary,
              "runs": runs, "sessions": sessions}
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{'server':<10} {'conc':>4} {'tok/s':>8} {'ttft p50':>9} {'ttft p99':>9} "
          f"{'lat p50':>8} {'lat p99':>8} {'fail':>5} {'rss MB before/after':>20}")
    for r in summary:
        print(f"{r['server']:<10} {r['concurrency']:>4} {fmt(r['tokens_per_s']):>8} "
              f"{fmt(r['ttft_p50_s'], 's'):>9} {fmt(r['ttft_p99_s'], 's'):>9} "
              f"{fmt(r['latency_p50_s'], 's'):>8} {fmt(r['latency_p99_s'], 's'):>8} "
              f"{r['failures']:>5} {fmt(r['rss_before_mb']):>9}/{fmt(r['rss_after_mb'])}")
    if sessions:
        s = sessions
        print(f"\nagent sessions: {s['sessions']} × {s['turns']} turns in {s['wall_s']:.0f} s: "
              f"failures {s['failures']}, fact recalled in {s['recalled']}/{s['sessions']}, "
              f"turn p50 {fmt(s['turn_p50_s'], 's')} p99 {fmt(s['turn_p99_s'], 's')}, "
              f"RSS {fmt(s['rss_before_mb'])} -> {fmt(s['rss_after_mb'])} MB "
              f"(at each quarter of the run: {', '.join(fmt(x) for x in s['rss_quarters_mb'])})")
        for e in s["errors"]:
            print("  error:", e)


if __name__ == "__main__":
    main()
