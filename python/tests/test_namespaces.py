"""Namespaces are walls: nothing one holds is visible from, or changed through, another."""

from __future__ import annotations

import pytest

import engram


def test_nothing_crosses_namespaces(mem):
    [a] = mem.add("Alice's secret: the code is 4711.", namespace="alice", session="s")
    [b] = mem.add("Bob likes sailing.", namespace="bob", session="s")
    assert a == b == 1  # ids count per namespace and say nothing about the other's writes

    # search
    assert all("4711" not in h["memory"] for h in mem.search("secret code", namespace="bob"))
    assert mem.search("secret code", namespace="carol") == []
    # get / get_all / history
    assert mem.get(a, namespace="bob")["memory"] == "Bob likes sailing."
    assert mem.get(2, namespace="bob") is None
    assert [e["memory"] for e in mem.get_all(namespace="bob")] == ["Bob likes sailing."]
    assert mem.get_all(namespace="carol") == []
    assert mem.sessions(namespace="carol") == []
    # update / delete through the wrong namespace
    with pytest.raises(engram.NotFound):
        mem.update(1, "changed", namespace="carol")
    with pytest.raises(engram.NotFound):
        mem.delete(1, namespace="carol")
    assert mem.delete_all(namespace="carol") == 0
    assert mem.delete_all(namespace="bob", session="s") == 1
    assert mem.get(a, namespace="alice")["memory"] == "Alice's secret: the code is 4711."
    assert mem.stats("alice")["episodes"] == 1
    assert mem.delete_all(namespace="alice") == 1
    assert mem.namespaces() == []


def test_ids_are_not_reused_after_delete_all(mem):
    mem.add(["one", "two"][0], namespace="n")
    mem.delete_all(namespace="n")
    assert mem.add("three", namespace="n") == [2]
