"""Vectors mode (dim=N, no model): embeddings come from the caller as float32 numpy arrays."""

from __future__ import annotations

import numpy as np
import pytest

import engram

DIM = 16


def unit(rng, n):
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_vectors_round_trip(tmp_path):
    rng = np.random.default_rng(7)
    vectors = unit(rng, 50)
    with engram.Memory(tmp_path / "v", dim=DIM) as m:
        assert m.dim == DIM
        ids = m.add([{"role": "user", "content": f"item {i}"} for i in range(50)],
                    vectors=vectors)
        assert ids == list(range(1, 51))
        [one] = m.add("single", vectors=unit(rng, 1)[0])  # shape (dim,)
        for i in (0, 17, 49):
            hits = m.search(f"item {i}", vector=vectors[i], k=3,
                            weights={"bm25": 0.0, "recency": 0.0, "importance": 0.0})
            assert hits[0]["id"] == ids[i]
            assert hits[0]["relevance"] == pytest.approx(1.0, abs=1e-5)
        # update with a new vector: search by it finds the episode
        target = unit(rng, 1)[0]
        assert m.update(one, "moved", vector=target) == 2
        assert m.search("", vector=target, k=1)[0]["id"] == one


def test_arrays_are_read_in_place(tmp_path):
    """Read-only and (1, dim) arrays work; the store keeps a copy, so later changes to the
    caller's array do not reach it."""
    rng = np.random.default_rng(1)
    vectors = unit(rng, 2)
    vectors.flags.writeable = False
    with engram.Memory(tmp_path / "v", dim=DIM) as m:
        m.add([{"content": "a"}, {"content": "b"}], vectors=vectors)
        m.add("c", vectors=unit(rng, 1))  # shape (1, dim)
        probe = vectors[1].copy()
        scratch = vectors.copy()
        m.add("d", vectors=scratch[0])
        scratch[0] = 0.0
        hits = m.search("", vector=probe, k=1, weights={"bm25": 0.0, "recency": 0.0})
        assert hits[0]["memory"] == "b"


def test_a_model_store_also_takes_vectors(mem):
    v = np.zeros(mem.dim, dtype=np.float32)
    v[0] = 1.0
    [id] = mem.add("given its own vector", vectors=v)
    assert mem.search("", vector=v, k=1)[0]["id"] == id
