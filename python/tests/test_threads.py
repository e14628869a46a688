"""The C++ work runs without the GIL: threads share one store."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import engram

FACTS = [f"Person {i} lives in city number {i} and works as a {job}."
         for i, job in enumerate(["baker", "pilot", "nurse", "farmer", "teacher"] * 8)]


def test_concurrent_searches_and_writes(mem):
    mem.add([{"role": "user", "content": f} for f in FACTS], session="s")

    def search(i):
        hits = mem.search(f"where does person {i} live?", k=5)
        return i, hits

    errors = []

    def writer():
        try:
            for j in range(20):
                mem.add(f"writer note {j}", session="w")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    w = threading.Thread(target=writer)
    w.start()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(search, list(range(len(FACTS))) * 3))
    w.join()
    assert not errors
    assert len(results) == 3 * len(FACTS)
    for i, hits in results:
        assert hits and f"Person {i} " in " ".join(h["memory"] for h in hits)
    assert len(mem.get_all(session="w")) == 20


def test_the_gil_is_released_during_searches(mem):
    """While one thread is inside a C++ call, another keeps running Python."""
    mem.add([{"role": "user", "content": f} for f in FACTS])
    stop = threading.Event()
    ticks = [0]

    def spin():
        while not stop.is_set():
            ticks[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        before = ticks[0]
        for _ in range(20):
            mem.search("who is a pilot?", k=10)
        assert ticks[0] > before
    finally:
        stop.set()
        t.join()


def test_close_waits_for_calls_in_flight(tmp_path):
    m = engram.Memory(tmp_path / "m")
    m.add([{"role": "user", "content": f} for f in FACTS])
    outcomes = []

    def search_until_closed():
        while True:
            try:
                m.search("pilot", k=3)
            except engram.Error as e:
                outcomes.append(str(e))
                return

    threads = [threading.Thread(target=search_until_closed) for _ in range(4)]
    for t in threads:
        t.start()
    m.close()
    for t in threads:
        t.join(timeout=60)
    assert len(outcomes) == 4 and all("closed" in o for o in outcomes)
