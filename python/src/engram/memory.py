"""engram.Memory: a persistent, crash-safe episodic memory with a Mem0-like API."""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Sequence, Union

from . import _checks as check
from . import _engram
from .errors import InvalidArgument, NotSupported

Message = dict[str, Any]
Episode = dict[str, Any]
PathLike = Union[str, "os.PathLike[str]"]

_MAX_K = 10000


class Memory:
    """A memory store in a directory: conversation turns ("episodes") in namespaces.

    >>> with engram.Memory("/tmp/mem") as m:
    ...     m.add("My sister Ana lives in Porto.", namespace="user-42")
    ...     m.search("where does Ana live?", namespace="user-42")[0]["memory"]

    Args:
        path: the store's directory (created when missing).
        embedder: None for the default embedder (all-MiniLM-L6-v2 from
            ``$ENGRAM_MODELS_DIR``, default ``~/.cache/engram/models``), or a
            sentence-transformers directory or BERT ``.gguf`` file. A store keeps the embedder it
            was made with and refuses another.
        dim: instead of a model, the embedding dimension: every ``add`` then passes
            ``vectors=`` and every ``search`` passes ``vector=`` (float32 numpy arrays).
        sync: fsync every write (the default), so an acknowledged write survives power loss.
        precision: the embedder's arithmetic: "auto" (f32, or bf16 on CPUs with AMX), "f32"
            (equal to sentence-transformers), "bf16", or "int8" (about 2.5x faster adds where
            the CPU has AVX512_VNNI; cosine to f32 about 0.995, LoCoMo recall unchanged).
            Vectors of every precision are comparable, so it may change between opens.

    Namespaces are walls: nothing one namespace holds is visible from another (use one per user
    or tenant; names are 1-128 of ``A-Z a-z 0-9 . _ : @ -``). Ids count from 1 per namespace.
    Every write is atomic and durable when the call returns. The store may be shared by
    threads (the C++ work runs without the GIL); only one process may open it at a time.
    Errors are ``engram.Error`` subclasses (see ``engram.errors``).
    """

    def __init__(
        self,
        path: PathLike,
        embedder: Optional[PathLike] = None,
        *,
        dim: Optional[int] = None,
        sync: bool = True,
        precision: str = "auto",
    ) -> None:
        path = check.path(path, "path")
        model = None if embedder is None else check.path(embedder, "embedder")
        arithmetic = check.precision(precision)
        size = 0
        if dim is not None:
            if model is not None:
                raise InvalidArgument("give embedder or dim, not both (dim means no model)")
            if arithmetic != "auto":
                raise InvalidArgument("precision applies to the embedder; with dim there is none")
            size = check.integer(dim, "dim", 1, 65536)
        self._store = _engram._Store(path, model, size, check.flag(sync, "sync"), arithmetic)

    # ---- writing ----

    def add(
        self,
        messages: Union[str, Sequence[Message]],
        *,
        namespace: str = "default",
        session: str = "default",
        metadata: Optional[dict[str, str]] = None,
        importance: float = 0.5,
        timestamp_ms: Optional[int] = None,
        vectors: Any = None,
        role: str = "user",
        user_id: Optional[str] = None,
        run_id: Optional[str] = None,
        infer: bool = False,
    ) -> list[int]:
        """Stores a text, or a conversation given as messages, as episodes; returns their ids.

        ``messages`` is a str (one episode with ``role``) or a list of
        ``{"role": ..., "content": ...}`` dicts (role defaults to "user"). A list is written
        in one atomic batch: all of it or (on error or crash) none. Texts are stored as given
        (Mem0's ``infer=False``). ``metadata`` and ``importance`` (0 to 1) apply to every
        episode; ``timestamp_ms`` (Unix epoch milliseconds; None or 0: now) too.

        ``vectors``: the embeddings to store instead of embedding the texts: a float32,
        C-contiguous numpy array of shape (dim,) for one text or (n, dim) for n messages. It is
        read in place (no intermediate copies). Required for a store opened with ``dim=``.

        ``user_id`` / ``run_id`` are Mem0's names for ``namespace`` / ``session``.
        """
        if infer is not False:
            raise NotSupported("engram stores messages as given: infer=True is not supported")
        ns = check.choose(namespace, user_id, "namespace", "user_id", "default")
        turns = _turns(messages, check.text(role, "role"))
        episode_meta = check.string_map(metadata, "metadata")
        weight = check.number(importance, "importance")
        when = 0 if timestamp_ms is None else check.integer(
            timestamp_ms, "timestamp_ms", 0, _engram.MAX_TIME_MS)
        sess = check.choose(session, run_id, "session", "run_id", "default")
        if vectors is None and not self._store.embedder_name:
            raise InvalidArgument(
                f"this store has no embedder (dim={self._store.dim}): pass vectors=")
        if not turns:
            return []
        batch = [(sess, r, t, episode_meta, weight, when, 0) for r, t in turns]
        return self._store.append(ns, batch, vectors)

    def update(
        self,
        id: int,
        text: Optional[str] = None,
        *,
        namespace: str = "default",
        metadata: Optional[dict[str, str]] = None,
        importance: Optional[float] = None,
        vector: Any = None,
        role: Optional[str] = None,
    ) -> int:
        """Changes an episode (unset arguments keep their value); the previous version goes to
        its history. A new text is re-embedded, or takes ``vector`` (float32, shape (dim,)).
        Returns the new version. ``engram.NotFound`` when ``id`` is not in ``namespace``."""
        return self._store.update(
            check.text(namespace, "namespace"),
            check.episode_id(id),
            check.optional_text(text, "text"),
            check.optional_text(role, "role"),
            None if metadata is None else check.string_map(metadata, "metadata"),
            None if importance is None else check.number(importance, "importance"),
            vector,
        )

    def delete(self, id: int, *, namespace: str = "default") -> None:
        """Removes an episode with its history. ``engram.NotFound`` when it is not there."""
        self._store.forget(check.text(namespace, "namespace"), [check.episode_id(id)])

    def delete_all(
        self,
        *,
        namespace: str = "default",
        session: Optional[str] = None,
        user_id: Optional[str] = None,
        run_id: Optional[str] = None,
    ) -> int:
        """Removes a session's episodes, or (session None) the whole namespace; returns how
        many episodes went."""
        ns = check.choose(namespace, user_id, "namespace", "user_id", "default")
        if run_id is not None:
            session = check.choose(session, run_id, "session", "run_id", None)  # type: ignore[arg-type]
        if session is None:
            return self._store.purge(ns)
        return self._store.forget_session(ns, check.text(session, "session"))

    def reset(self) -> None:
        """Removes every namespace (Mem0's reset)."""
        for ns in self.namespaces():
            self._store.purge(ns)

    def consolidate(
        self,
        session: str,
        summarize: Callable[[list[Episode]], str],
        *,
        namespace: str = "default",
        keep_recent: int = 8,
        min_span: int = 4,
    ) -> int:
        """Replaces a session's episodes older than its newest ``keep_recent`` by one summary
        episode (role "summary") whose text is ``summarize(episodes)`` (oldest first, the dicts
        ``get`` returns). Does nothing unless at least ``min_span`` would be replaced. Returns
        the summary's id, or 0. An exception from ``summarize`` propagates; nothing changes.
        ``summarize`` runs on the calling thread outside the store's locks, so it may read the
        store (e.g. ``search`` for context)."""
        if not callable(summarize):
            raise TypeError(f"summarize must be callable, not {check.type_name(summarize)}")
        return self._store.consolidate(
            check.text(namespace, "namespace"),
            check.text(session, "session"),
            summarize,
            check.integer(keep_recent, "keep_recent", 0, 2**63 - 1),
            check.integer(min_span, "min_span", 0, 2**63 - 1),
        )

    # ---- reading ----

    def search(
        self,
        query: str,
        *,
        namespace: str = "default",
        k: int = 10,
        filters: Optional[dict[str, str]] = None,
        session: Optional[str] = None,
        vector: Any = None,
        weights: Optional[dict[str, float]] = None,
        from_ms: Optional[int] = None,
        to_ms: Optional[int] = None,
        user_id: Optional[str] = None,
        run_id: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> list[Episode]:
        """The ``k`` episodes of ``namespace`` that best match ``query``, best first.

        Each hit is a dict: ``id``, ``memory`` (the text), ``role``, ``session``, ``score`` and
        its components ``relevance`` (cosine), ``bm25``, ``recency``, plus ``importance``,
        ``metadata``, ``timestamp_ms``, ``created_at`` (ISO 8601 UTC), ``version``.
        ``filters``: metadata that must match exactly; ``session``: only that session;
        ``from_ms`` / ``to_ms``: a time range (inclusive). ``vector``: the query's embedding
        (float32, shape (dim,)), required for a store opened with ``dim=``. ``weights``
        overrides the score's weights (keys relevance, bm25, recency, importance,
        half_life_hours, feedback, dense_feedback, role: see RecallOptions in
        memory/episodic_store.h). An unknown namespace gives []. ``limit`` is Mem0's name for ``k``.
        """
        ns = check.choose(namespace, user_id, "namespace", "user_id", "default")
        if run_id is not None:
            session = check.text(run_id, "run_id")
        if limit is not None:
            k = limit
        if vector is None and not self._store.embedder_name:
            raise InvalidArgument(
                f"this store has no embedder (dim={self._store.dim}): pass vector=")
        return self._store.search(
            ns,
            check.text(query, "query"),
            check.integer(k, "k", 1, _MAX_K),
            check.optional_text(session, "session"),
            check.string_map(filters, "filters"),
            vector,
            _weights(weights),
            None if from_ms is None else check.integer(from_ms, "from_ms", -2**63, 2**63 - 1),
            None if to_ms is None else check.integer(to_ms, "to_ms", -2**63, 2**63 - 1),
        )

    def get(self, id: int, *, namespace: str = "default") -> Optional[Episode]:
        """The episode ``id`` as a dict (see ``search``), or None when ``namespace`` holds no
        such live episode."""
        return self._store.get(check.text(namespace, "namespace"), check.episode_id(id))

    def get_all(
        self,
        *,
        namespace: str = "default",
        session: Optional[str] = None,
        limit: int = 100,
        user_id: Optional[str] = None,
        run_id: Optional[str] = None,
    ) -> list[Episode]:
        """Up to ``limit`` live episodes of a session (or of every session), oldest first."""
        ns = check.choose(namespace, user_id, "namespace", "user_id", "default")
        if run_id is not None:
            session = check.text(run_id, "run_id")
        return self._store.list_episodes(
            ns, check.optional_text(session, "session"),
            check.integer(limit, "limit", 1, 2**31 - 1))

    def history(self, id: int, *, namespace: str = "default") -> list[Episode]:
        """Every version of an episode, oldest first, the current one last.
        ``engram.NotFound`` for an unknown id."""
        return self._store.history(check.text(namespace, "namespace"), check.episode_id(id))

    def namespaces(self) -> list[str]:
        """The namespaces that hold episodes, sorted."""
        return self._store.namespaces()

    def sessions(self, namespace: str = "default") -> list[str]:
        """The sessions of ``namespace`` that hold live episodes, sorted."""
        return self._store.sessions(check.text(namespace, "namespace"))

    def stats(self, namespace: Optional[str] = None) -> dict[str, Any]:
        """``namespaces``, ``episodes``, ``index_vectors`` and ``disk_bytes`` of the whole
        store, or of one namespace, and the store's BM25 index text: ``index_context_turns``
        (the turns before each episode it indexes with it), ``index_date`` (its date too) and
        ``stemming`` (``"english"``: terms are stemmed; ``"none"`` in stores made before)."""
        return self._store.stats(check.optional_text(namespace, "namespace"))

    # ---- lifetime ----

    def flush(self) -> None:
        """Saves the vector indexes and flushes the database, so the next open is quick.
        (Writes are durable without it.)"""
        self._store.flush()

    def checkpoint(self, directory: PathLike) -> None:
        """A consistent copy of the whole store in ``directory`` (which must not exist)."""
        self._store.checkpoint(check.path(directory, "directory"))

    def close(self) -> None:
        """Closes the store (waiting for calls in flight); later calls raise ``engram.Error``.
        Closing twice is fine."""
        self._store.close()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._store.closed

    @property
    def path(self) -> str:
        """The store's directory."""
        return self._store.path

    @property
    def dim(self) -> int:
        """The embedding dimension."""
        return self._store.dim

    def __enter__(self) -> "Memory":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"dim={self.dim}"
        return f"engram.Memory({self.path!r}, {state})"


def _turns(messages: Any, role: str) -> list[tuple[str, str]]:
    """(role, text) pairs from a str or a list of {"role", "content"} dicts."""
    if isinstance(messages, str):
        return [(role, check.text(messages, "messages"))]
    if isinstance(messages, (bytes, bytearray)):
        raise TypeError("messages must be str or a list of dicts, not bytes (decode it first)")
    if isinstance(messages, dict) or not isinstance(messages, (list, tuple)):
        raise TypeError(
            "messages must be str or a list of {'role': ..., 'content': ...} dicts, "
            f"not {check.type_name(messages)}")
    turns = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise TypeError(f"messages[{i}] must be a dict, not {check.type_name(message)}")
        if "content" not in message:
            raise InvalidArgument(f"messages[{i}] has no 'content'")
        turns.append((check.text(message.get("role", "user"), f"messages[{i}]['role']"),
                      check.text(message["content"], f"messages[{i}]['content']")))
    return turns


def _weights(weights: Any) -> dict[str, float]:
    if weights is None:
        return {}
    if not isinstance(weights, dict):
        raise TypeError(f"weights must be a dict of str to float, not {check.type_name(weights)}")
    return {check.text(k, "weights key"): check.number(v, f"weights[{k!r}]")
            for k, v in weights.items()}
