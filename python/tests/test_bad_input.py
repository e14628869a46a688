"""Bad input raises clear exceptions and writes nothing."""

from __future__ import annotations

import numpy as np
import pytest

import engram

from conftest import popen_python


def count(m, namespace="default"):
    return len(m.get_all(namespace=namespace, limit=10000))


def test_wrong_python_types_are_type_errors(mem):
    cases = [
        (lambda: mem.add(42), "messages must be str or a list"),
        (lambda: mem.add(b"bytes"), "not bytes"),
        (lambda: mem.add({"role": "user", "content": "x"}), "list of"),
        (lambda: mem.add(["a plain str in a list"]), r"messages\[0\] must be a dict"),
        (lambda: mem.add([{"role": "user", "content": b"x"}]), r"messages\[0\]\['content'\] must be str"),
        (lambda: mem.add("x", namespace=7), "namespace must be str"),
        (lambda: mem.add("x", metadata={"n": 1}), r"metadata\['n'\] must be str"),
        (lambda: mem.add("x", metadata=["k"]), "metadata must be a dict"),
        (lambda: mem.add("x", importance="high"), "importance must be a number"),
        (lambda: mem.add("x", timestamp_ms=1.5), "timestamp_ms must be int"),
        (lambda: mem.search(b"query"), "query must be str"),
        (lambda: mem.search("q", k="3"), "k must be int"),
        (lambda: mem.get(1.0), "id must be int"),
        (lambda: mem.get_all(limit=None), "limit must be int"),
        (lambda: engram.Memory(123), "path must be str"),
        (lambda: engram.Memory("/tmp/x", sync="yes"), "sync must be bool"),
    ]
    for call, message in cases:
        with pytest.raises(TypeError, match=message):
            call()
    assert count(mem) == 0


def test_bad_values_are_invalid_argument(mem):
    cases = [
        (lambda: mem.add("x", namespace="has space"), "namespace"),
        (lambda: mem.add("x", namespace=""), "namespace"),
        (lambda: mem.add("x", namespace="a" * 129), "namespace"),
        (lambda: mem.add("x", importance=1.5), "importance"),
        (lambda: mem.add("x", importance=float("nan")), "importance"),
        (lambda: mem.add("x", timestamp_ms=-1), "timestamp_ms"),
        (lambda: mem.add("x", session="a\0b"), "session"),
        (lambda: mem.add("x" * (engram._engram.MAX_TEXT_BYTES + 1)), "text"),
        (lambda: mem.search("q", k=0), "k"),
        (lambda: mem.search("q", weights={"nonsense": 1.0}), "nonsense"),
        (lambda: mem.search("q", namespace="bad/ns"), "namespace"),
        (lambda: mem.get(1, namespace="bad ns"), "namespace"),
        (lambda: mem.add([{"role": "user"}]), "content"),
    ]
    for call, message in cases:
        with pytest.raises(engram.InvalidArgument, match=message):
            call()
        with pytest.raises(ValueError):
            call()
    assert count(mem) == 0 and mem.namespaces() == []
    with pytest.raises(engram.InvalidArgument) as e:
        mem.add("x", namespace="has space")
    assert e.value.code == "invalid argument" and "has space" in e.value.message


def test_invalid_utf8_is_refused(mem):
    lone = "caf\udce9"  # what os.fsdecode makes of b"caf\xe9": not encodable as UTF-8
    for call in (lambda: mem.add(lone),
                 lambda: mem.add([{"role": "user", "content": "ok"},
                                  {"role": "user", "content": lone}]),
                 lambda: mem.add("x", session=lone),
                 lambda: mem.add("x", metadata={"k": lone}),
                 lambda: mem.add("x", namespace=lone),
                 lambda: mem.search(lone)):
        with pytest.raises(engram.InvalidArgument, match="surrogate U\\+DCE9"):
            call()
    assert count(mem) == 0


def test_a_bad_message_in_a_batch_writes_none_of_it(mem):
    mem.add("before")
    batch = [{"role": "user", "content": "fine"}, {"role": "user", "content": "x" * (2 << 20)}]
    with pytest.raises(engram.InvalidArgument, match="text"):
        mem.add(batch)
    assert [e["memory"] for e in mem.get_all()] == ["before"]
    assert mem.add("after") == [2]  # no id was spent on the refused batch


def test_bad_vectors_are_refused(tmp_path):
    with engram.Memory(tmp_path / "v", dim=8) as m:
        good = np.ones(8, dtype=np.float32)
        type_cases = [
            (np.ones(8, dtype=np.float64), "float32, not float64"),
            (np.ones(8, dtype=np.int32), "float32, not int32"),
            (np.ones((8, 2), dtype=np.float32)[:, 0], "C-contiguous"),
            ([1.0] * 8, "numpy.ndarray of float32, not list"),
            (b"\0" * 32, "float32, not uint8"),
        ]
        for vectors, message in type_cases:
            with pytest.raises(TypeError, match=message):
                m.add("x", vectors=vectors)
        value_cases = [
            (np.ones(7, dtype=np.float32), r"shape \(7,\); expected \(8,\)"),
            (np.ones((2, 8), dtype=np.float32), r"shape \(2, 8\)"),
            (np.full(8, np.nan, dtype=np.float32), "finite"),
        ]
        for vectors, message in value_cases:
            with pytest.raises(engram.InvalidArgument, match=message):
                m.add("x", vectors=vectors)
        with pytest.raises(engram.InvalidArgument, match=r"shape \(8,\); expected \(2, 8\)"):
            m.add([{"content": "a"}, {"content": "b"}], vectors=good)
        with pytest.raises(engram.InvalidArgument, match="pass vectors="):
            m.add("no vector")
        with pytest.raises(engram.InvalidArgument, match="pass vector="):
            m.search("no vector")
        with pytest.raises(TypeError, match="float32"):
            m.search("q", vector=np.ones(8))
        assert len(m.get_all()) == 0
    with pytest.raises(ValueError, match="not both"):
        engram.Memory(tmp_path / "w", "some-model", dim=8)


def test_another_process_holding_the_store_is_refused(tmp_path):
    path = str(tmp_path / "locked")
    holder = popen_python("""
        import sys, engram
        m = engram.Memory(sys.argv[1], dim=4)
        print("ready", flush=True)
        sys.stdin.readline()
        m.close()
    """, path)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(engram.FailedPrecondition, match="in use by another process"):
            engram.Memory(path, dim=4)
    finally:
        holder.communicate("done\n", timeout=60)
    with engram.Memory(path, dim=4) as m:  # free again once the holder closed it
        assert m.get_all() == []


def test_a_store_refuses_another_embedder_setting(tmp_path):
    with engram.Memory(tmp_path / "s", dim=4):
        pass
    with pytest.raises(engram.Error):
        engram.Memory(tmp_path / "s", dim=5)
    with pytest.raises(engram.Error):
        engram.Memory(tmp_path / "s")  # made without a model: the default one is refused


def test_a_directory_that_is_not_a_store_is_refused(tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("hello")
    with pytest.raises(engram.InvalidArgument, match="not an engram memory store"):
        engram.Memory(tmp_path / "other", dim=4)
    with pytest.raises(engram.NotFound):
        engram.Memory(tmp_path / "m", tmp_path / "no-such-model")


def test_a_bad_precision_is_refused_before_anything_opens(tmp_path):
    with pytest.raises(TypeError, match="precision must be str"):
        engram.Memory(tmp_path / "m", precision=8)
    with pytest.raises(engram.InvalidArgument, match="precision 'fp8' is not one of"):
        engram.Memory(tmp_path / "m", precision="fp8")
    with pytest.raises(engram.InvalidArgument, match="with dim there is none"):
        engram.Memory(tmp_path / "m", dim=4, precision="int8")
    with pytest.raises(engram.InvalidArgument, match="precision 'f16' is not one of"):
        engram.Collection(tmp_path / "c", precision="f16")
    assert not (tmp_path / "m").exists() and not (tmp_path / "c").exists()
