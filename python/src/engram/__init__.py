"""engram: a persistent, crash-safe episodic memory store and document collections.

    import engram
    with engram.Memory("./memory") as m:
        m.add([{"role": "user", "content": "My sister Ana lives in Porto."}], namespace="u42")
        print(m.search("where does Ana live?", namespace="u42")[0]["memory"])

``Memory`` stores conversation turns (Mem0-like: add, search, get, get_all, update, history,
delete, delete_all); ``Collection`` holds documents for retrieval. Failures raise
``engram.Error`` subclasses (``engram.errors``). The C++ work runs without the GIL.
"""

from __future__ import annotations

from .collection import Collection
from .errors import (
    AlreadyExists,
    Cancelled,
    Corruption,
    Error,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    IOError,
    NotFound,
    NotSupported,
    OutOfRange,
    ResourceExhausted,
    Unavailable,
)
from .memory import Memory

__version__ = "0.1.0"

__all__ = [
    "Memory",
    "Collection",
    "Error",
    "InvalidArgument",
    "NotFound",
    "AlreadyExists",
    "Corruption",
    "NotSupported",
    "OutOfRange",
    "FailedPrecondition",
    "ResourceExhausted",
    "IOError",
    "Unavailable",
    "Cancelled",
    "Internal",
]
