"""The exceptions engram raises.

Every failure the C++ library reports (a ``Status``) arrives as an :class:`Error` subclass named
after its code, carrying the library's message. Each also inherits the builtin exception a
Python user would reach for (``InvalidArgument`` is a ``ValueError``, ``NotFound`` a
``KeyError``, ``IOError`` an ``OSError``...), so ``except ValueError`` works as expected.
"""

from __future__ import annotations

from . import _engram

__all__ = [
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


class Error(Exception):
    """Base class of every engram error. ``str(e)`` is engram's message; ``e.code`` names the
    status code ("invalid argument", "not found", ...)."""

    code: str = "error"

    def __str__(self) -> str:  # KeyError would quote the message; engram's reads as written
        return str(self.args[0]) if self.args else ""

    @property
    def message(self) -> str:
        """engram's message (what was wrong and where)."""
        return str(self)


class InvalidArgument(Error, ValueError):
    """The caller passed something malformed: a bad namespace, text, number or vector shape."""

    code = "invalid argument"


class NotFound(Error, KeyError):
    """A named episode, document, file or model does not exist."""

    code = "not found"


class AlreadyExists(Error):
    """Creating something that is already there."""

    code = "already exists"


class Corruption(Error):
    """Persisted data is damaged or not in the expected format."""

    code = "corruption"


class NotSupported(Error, NotImplementedError):
    """Valid, but not handled here (a model architecture, a tensor type)."""

    code = "not supported"


class OutOfRange(Error, IndexError):
    """An index, position or length beyond what is allowed."""

    code = "out of range"


class FailedPrecondition(Error, RuntimeError):
    """The store cannot do this now: it is closed, in use by another process, or was made with
    another embedder."""

    code = "failed precondition"


class ResourceExhausted(Error):
    """Out of memory, disk, or a configured budget."""

    code = "resource exhausted"


class IOError(Error, OSError):  # noqa: A001 - engram.IOError, the code's name
    """The operating system refused a read, write, open or map."""

    code = "I/O error"


class Unavailable(Error, RuntimeError):
    """A resource is not reachable right now (e.g. a collection in use by another writer)."""

    code = "unavailable"


class Cancelled(Error):
    """The caller asked to stop."""

    code = "cancelled"


class Internal(Error, RuntimeError):
    """A bug in engram; the message says which invariant broke."""

    code = "internal"


# In the order of engram::StatusCode (common/status.h), from 1.
_BY_CODE = [
    InvalidArgument,
    NotFound,
    AlreadyExists,
    Corruption,
    NotSupported,
    OutOfRange,
    FailedPrecondition,
    ResourceExhausted,
    IOError,
    Unavailable,
    Cancelled,
    Internal,
]
_engram._set_error_classes({code: cls for code, cls in enumerate(_BY_CODE, start=1)})
