"""Durability across processes: what one process wrote, another reads; a SIGKILL loses nothing
that add() acknowledged."""

from __future__ import annotations

import os
import signal
import time

import engram

from conftest import popen_python, run_python


def test_written_in_one_process_read_in_another(tmp_path):
    path = str(tmp_path / "store")
    run_python("""
        import sys, engram
        with engram.Memory(sys.argv[1]) as m:
            m.add([{"role": "user", "content": "My sister Ana lives in Porto."},
                   {"role": "assistant", "content": "Noted."}], namespace="u1", session="s")
            m.add("I prefer window seats.", namespace="u2", metadata={"kind": "pref"})
            m.update(1, "My sister Ana moved to Lisbon.", namespace="u1")
    """, path)
    out = run_python("""
        import sys, json, engram
        with engram.Memory(sys.argv[1]) as m:
            print(json.dumps({
                "hit": m.search("where does Ana live?", namespace="u1", k=1)[0]["memory"],
                "history": [h["memory"] for h in m.history(1, namespace="u1")],
                "u2": m.get(1, namespace="u2"),
                "namespaces": m.namespaces(),
            }))
    """, path)
    import json
    seen = json.loads(out.stdout)
    assert seen["hit"] == "My sister Ana moved to Lisbon."
    assert seen["history"] == ["My sister Ana lives in Porto.", "My sister Ana moved to Lisbon."]
    assert seen["u2"]["memory"] == "I prefer window seats."
    assert seen["u2"]["metadata"] == {"kind": "pref"}
    assert seen["namespaces"] == ["u1", "u2"]


def test_sigkill_during_adds_loses_nothing_acknowledged(tmp_path):
    path = str(tmp_path / "store")
    child = popen_python("""
        import sys, engram
        m = engram.Memory(sys.argv[1])
        i = 0
        while True:
            text = f"fact number {i}: the sky over city {i} was clear"
            if i % 5 == 4:  # batches too: all or nothing
                ids = m.add([{"role": "user", "content": text},
                             {"role": "assistant", "content": text + " (noted)"}], session="s")
                for id, t in zip(ids, (text, text + " (noted)")):
                    print(f"{id}\\t{t}", flush=True)
            else:
                [id] = m.add(text, session="s")
                print(f"{id}\\t{text}", flush=True)
            i += 1
    """, path)
    acknowledged = {}
    deadline = time.monotonic() + 60
    try:
        while len(acknowledged) < 100 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            id, text = line.rstrip("\n").split("\t", 1)
            acknowledged[int(id)] = text
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 100, child.stderr.read()
    # Lines printed before the kill but not yet read were acknowledged too.
    for line in child.stdout.read().splitlines():
        if "\t" in line:
            id, text = line.split("\t", 1)
            acknowledged[int(id)] = text
    with engram.Memory(path) as m:
        for id, text in acknowledged.items():
            e = m.get(id)
            assert e is not None, f"acknowledged id {id} is gone"
            assert e["memory"] == text
        stored = m.get_all(limit=10000)
        assert len(stored) >= len(acknowledged)
        ids = [e["id"] for e in stored]
        assert len(ids) == len(set(ids))
        # the index was rebuilt or caught up: search finds a late fact
        last = max(acknowledged)
        hits = m.search(acknowledged[last], k=3)
        assert last in [h["id"] for h in hits]
