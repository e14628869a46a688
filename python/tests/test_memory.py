"""Round trips through engram.Memory with the default embedder."""

from __future__ import annotations

import pytest

import engram

CONVERSATION = [
    {"role": "user", "content": "My sister Ana lives in Porto."},
    {"role": "assistant", "content": "Noted: Ana lives in Porto."},
    {"role": "user", "content": "I adopted a cat called Miso last spring."},
]


def test_add_text_and_messages_return_ids_in_order(mem):
    assert mem.add("I like green tea.") == [1]
    ids = mem.add(CONVERSATION, session="s1", metadata={"topic": "family"}, importance=0.8)
    assert ids == [2, 3, 4]
    for message, id in zip(CONVERSATION, ids):
        e = mem.get(id)
        assert e["memory"] == message["content"]
        assert e["role"] == message["role"]
        assert e["session"] == "s1"
        assert e["metadata"] == {"topic": "family"}
        assert e["importance"] == pytest.approx(0.8)
        assert e["version"] == 1
    assert mem.add([]) == []


def test_search_ranks_the_matching_memory_first(mem):
    mem.add(CONVERSATION, session="s1")
    mem.add("The quarterly report is due on Friday.", session="work")
    hits = mem.search("where does Ana live?", k=2)
    assert len(hits) == 2
    assert "Ana" in hits[0]["memory"]
    keys = {"id", "memory", "role", "session", "score", "relevance", "bm25", "recency",
            "importance", "metadata", "timestamp_ms", "created_at", "version"}
    assert keys <= set(hits[0])
    assert hits[0]["score"] >= hits[1]["score"]
    assert mem.search("cat", session="work", k=5)[0]["session"] == "work"
    assert mem.search("anything", namespace="nobody") == []


def test_search_filters_on_metadata(mem):
    mem.add("Ana lives in Porto.", metadata={"source": "chat"})
    mem.add("Ana lives near the river.", metadata={"source": "email"})
    hits = mem.search("Ana", filters={"source": "email"})
    assert [h["memory"] for h in hits] == ["Ana lives near the river."]


def test_timestamps_and_get_all(mem):
    mem.add("first", session="a", timestamp_ms=1_000)
    mem.add("second", session="b", timestamp_ms=2_000)
    mem.add("third", session="a", timestamp_ms=3_000)
    everything = mem.get_all()
    assert [e["memory"] for e in everything] == ["first", "second", "third"]
    assert everything[0]["created_at"] == "1970-01-01T00:00:01Z"
    assert [e["memory"] for e in mem.get_all(session="a")] == ["first", "third"]
    assert [e["memory"] for e in mem.get_all(limit=2)] == ["first", "second"]
    assert mem.sessions() == ["a", "b"]


def test_update_and_history(mem):
    [id] = mem.add("Ana lives in Porto.", metadata={"k": "v"})
    assert mem.update(id, "Ana moved to Lisbon.") == 2
    assert mem.update(id, importance=0.9, metadata={"k": "w"}) == 3
    history = mem.history(id)
    assert [h["memory"] for h in history] == ["Ana lives in Porto.", "Ana moved to Lisbon.",
                                              "Ana moved to Lisbon."]
    assert [h["version"] for h in history] == [1, 2, 3]
    now = mem.get(id)
    assert now["metadata"] == {"k": "w"} and now["importance"] == pytest.approx(0.9)
    assert "Lisbon" in mem.search("where does Ana live now?", k=1)[0]["memory"]
    with pytest.raises(engram.NotFound):
        mem.update(999, "x")
    with pytest.raises(KeyError):
        mem.history(999)


def test_delete_and_delete_all(mem):
    ids = mem.add(CONVERSATION, session="s1")
    mem.add("kept", session="s2")
    mem.delete(ids[0])
    assert mem.get(ids[0]) is None
    with pytest.raises(engram.NotFound, match="999"):
        mem.delete(999)
    assert mem.delete_all(session="s1") == 2
    assert [e["memory"] for e in mem.get_all()] == ["kept"]
    assert mem.delete_all() == 1
    assert mem.get_all() == [] and mem.namespaces() == []


def test_consolidate_replaces_old_turns_by_a_summary(mem):
    mem.add([{"role": "user", "content": f"turn {i}"} for i in range(10)], session="s")
    seen = []

    def summarize(episodes):
        seen.extend(e["memory"] for e in episodes)
        assert mem.get(episodes[0]["id"], namespace="default")["memory"] == "turn 0"  # re-entry
        return "summary of " + ", ".join(e["memory"] for e in episodes)

    id = mem.consolidate("s", summarize, keep_recent=4, min_span=2)
    assert seen == [f"turn {i}" for i in range(6)]
    summary = mem.get(id)
    assert summary["role"] == "summary" and summary["sources"] == [1, 2, 3, 4, 5, 6]
    left = sorted(e["memory"] for e in mem.get_all(session="s"))
    assert left == sorted([summary["memory"]] + [f"turn {i}" for i in range(6, 10)])
    assert mem.consolidate("s", summarize, keep_recent=4, min_span=4) == 0


def test_consolidate_propagates_the_summarizer_error_and_changes_nothing(mem):
    mem.add([{"role": "user", "content": f"turn {i}"} for i in range(6)], session="s")

    def fail(episodes):
        raise RuntimeError("no model today")

    with pytest.raises(RuntimeError, match="no model today"):
        mem.consolidate("s", fail, keep_recent=1, min_span=1)
    with pytest.raises(TypeError, match="summarize must return str"):
        mem.consolidate("s", lambda episodes: 42, keep_recent=1, min_span=1)
    with pytest.raises(TypeError, match="callable"):
        mem.consolidate("s", "not a function")
    assert len(mem.get_all(session="s")) == 6


def test_stats_namespaces_and_mem0_aliases(mem):
    mem.add("hello", user_id="alice", run_id="r1")
    mem.add("bonjour", namespace="bob")
    assert mem.namespaces() == ["alice", "bob"]
    assert mem.sessions(namespace="alice") == ["r1"]
    assert mem.stats("alice")["episodes"] == 1
    assert mem.stats()["episodes"] == 2 and mem.stats()["namespaces"] == 2
    assert mem.stats()["index_context_turns"] == 2 and mem.stats()["index_date"] is True
    assert mem.stats()["stemming"] == "english"
    assert mem.get("1", namespace="alice")["memory"] == "hello"  # Mem0 passes ids as str
    assert mem.search("hello", user_id="alice")[0]["memory"] == "hello"
    assert len(mem.get_all(user_id="alice", run_id="r1")) == 1
    assert len(mem.search("hello", user_id="alice", limit=1)) == 1
    with pytest.raises(ValueError, match="not both"):
        mem.add("x", namespace="a", user_id="b")


def test_close_and_context_manager(tmp_path):
    with engram.Memory(tmp_path / "m") as m:
        m.add("remember me")
        m.flush()
    assert m.closed
    for call in (lambda: m.search("x"), lambda: m.add("x"), lambda: m.get(1),
                 lambda: m.get_all(), lambda: m.stats()):
        with pytest.raises(engram.Error, match="closed"):
            call()
    m.close()  # twice is fine
    with engram.Memory(tmp_path / "m") as again:
        assert again.get(1)["memory"] == "remember me"
        assert "engram.Memory" in repr(again)


def test_checkpoint_opens_as_a_store(mem, tmp_path):
    mem.add("copied")
    mem.checkpoint(tmp_path / "copy")
    with engram.Memory(tmp_path / "copy") as copy:
        assert copy.get(1)["memory"] == "copied"


def test_an_explicit_model_path_opens_the_default_models_store(tmp_path):
    import os
    models = os.environ.get("ENGRAM_MODELS_DIR", os.path.expanduser("~/.cache/engram/models"))
    with engram.Memory(tmp_path / "m") as m:
        m.add("made with the default embedder")
    with engram.Memory(tmp_path / "m", os.path.join(models, "all-MiniLM-L6-v2")) as m:
        assert m.get(1)["memory"] == "made with the default embedder"
        assert m.dim == 384


def test_an_int8_embedder_finds_what_the_f32_one_finds(tmp_path):
    # The same store opened with either arithmetic: the vectors are comparable.
    with engram.Memory(tmp_path / "m", precision="int8") as m:
        m.add(CONVERSATION, session="s1")
        m.add("The quarterly report is due on Friday.", session="work")
        int8_hits = m.search("where does Ana live?", k=2)
    with engram.Memory(tmp_path / "m", precision="f32") as m:
        f32_hits = m.search("where does Ana live?", k=2)
        assert m.add("Miso likes tuna.") == [5]
    assert "Ana" in int8_hits[0]["memory"]
    assert [h["id"] for h in int8_hits] == [h["id"] for h in f32_hits]
    assert int8_hits[0]["relevance"] == pytest.approx(f32_hits[0]["relevance"], abs=0.05)
