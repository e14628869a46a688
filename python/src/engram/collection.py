"""engram.Collection: documents chunked, embedded and searchable by BM25, vectors or both."""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence, Union

from . import _checks as check
from . import _engram

Hit = dict[str, Any]
PathLike = Union[str, "os.PathLike[str]"]

_MODES = ("hybrid", "bm25", "dense")


class Collection:
    """A persistent document collection in a directory (as ``engram ingest`` makes them).

    >>> with engram.Collection("/tmp/papers") as c:
    ...     c.ingest(open("notes.txt").read(), source="notes.txt")
    ...     c.search("what limits decode speed?", k=3)[0]["citation"]

    Args:
        path: the collection's directory.
        embedder: None for the default embedder (all-MiniLM-L6-v2), or a model directory or
            BERT ``.gguf``; it must be the one the collection was made with.
        create: create the collection when it is missing (else ``engram.NotFound``).
        sync: fsync every ingest and delete.
        precision: the embedder's arithmetic, as for ``engram.Memory``: "auto", "f32", "bf16"
            or "int8".

    A document is its ``source``: ingesting a source again replaces it (or does nothing when
    nothing changed); each document is written atomically. Searches may run from several
    threads; only one process may write at a time.
    """

    def __init__(
        self,
        path: PathLike,
        embedder: Optional[PathLike] = None,
        *,
        create: bool = True,
        sync: bool = False,
        precision: str = "auto",
    ) -> None:
        model = None if embedder is None else check.path(embedder, "embedder")
        self._c = _engram._Collection(check.path(path, "path"), model,
                                      check.flag(create, "create"), check.flag(sync, "sync"),
                                      check.precision(precision))

    def ingest(
        self,
        text: str,
        *,
        source: Optional[str] = None,
        title: str = "",
        tags: Optional[Sequence[str]] = None,
        format: str = "txt",
    ) -> dict[str, Any]:
        """Adds a document's text (or replaces the document with the same ``source``; None:
        named by its content, "sha256:..."). Returns ``{"id", "outcome" ("added", "replaced",
        "unchanged"), "chunks", "source"}``."""
        return self._c.ingest(check.text(text, "text"),
                              "" if source is None else check.text(source, "source"),
                              check.text(title, "title"), check.string_list(tags, "tags"),
                              check.text(format, "format"))

    def ingest_file(self, path: PathLike, *, tags: Optional[Sequence[str]] = None) -> dict[str, Any]:
        """Reads and parses a .txt, .md, .html or .pdf file (as ``engram ingest`` does) and
        ingests it with its canonical path as source. Returns what ``ingest`` returns."""
        return self._c.ingest_file(check.path(path, "path"), check.string_list(tags, "tags"))

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        mode: str = "hybrid",
        tags: Optional[Sequence[str]] = None,
        source_prefix: str = "",
    ) -> list[Hit]:
        """The ``k`` best chunks for ``query``, best first. ``mode``: "hybrid" (default),
        "bm25" or "dense". Each hit: ``chunk_id``, ``document_id``, ``score`` (with components
        ``bm25``, ``dense``), ``text``, ``title``, ``source``, ``begin`` / ``end`` (byte span in
        the document's text) and ``citation`` ("<document>:<begin>-<end>"). ``tags``: only
        documents with every tag; ``source_prefix``: only sources starting with it."""
        mode = check.text(mode, "mode")
        return self._c.search(check.text(query, "query"), check.integer(k, "k", 1, 1000), mode,
                              check.string_list(tags, "tags"),
                              check.text(source_prefix, "source_prefix"))

    def delete(self, document_id: int) -> None:
        """Deletes a document. ``engram.NotFound`` for an unknown id."""
        self._c.delete([check.episode_id(document_id, "document_id")])

    def list(self) -> list[dict[str, Any]]:
        """Every document: ``id``, ``title``, ``source``, ``format``, ``sha256``, ``tags``,
        ``created_at``, ``updated_at``, ``bytes``, ``chunks``."""
        return self._c.list_documents()

    def get(self, document_id: int) -> Optional[dict[str, Any]]:
        """A document's description (as in ``list``), or None when there is no such id."""
        return self._c.get(check.episode_id(document_id, "document_id"))

    def text(self, document_id: int) -> str:
        """A document's text as its chunks hold it (hits' ``begin``/``end`` index into it)."""
        return self._c.text(check.episode_id(document_id, "document_id"))

    def stats(self) -> dict[str, Any]:
        """``documents``, ``chunks``, ``index_kind``, ``index_bytes``, ``index_title``: whether
        chunks are indexed with their document's title, ``stemming``: how BM25 cuts terms
        (``"english"`` or ``"none"``), and ``sentence_vectors``: whether each chunk's sentences
        are embedded for hybrid search's rescoring; all three fixed when the collection was
        made."""
        return self._c.stats()

    def flush(self) -> None:
        """Saves the vector index and flushes the database (ingests are durable without it)."""
        self._c.flush()

    def close(self) -> None:
        """Closes the collection; later calls raise ``engram.Error``. Closing twice is fine."""
        self._c.close()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._c.closed

    @property
    def path(self) -> str:
        """The collection's directory."""
        return self._c.path

    def __enter__(self) -> "Collection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"engram.Collection({self.path!r}{', closed' if self.closed else ''})"
