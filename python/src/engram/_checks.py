"""Argument checks shared by Memory and Collection: wrong Python types raise TypeError, values
engram cannot store raise engram.InvalidArgument (a ValueError), before anything is written."""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional

from .errors import InvalidArgument

MAX_ID = 2**64 - 1


def type_name(value: Any) -> str:
    return type(value).__name__


def text(value: Any, what: str) -> str:
    """`value` as a str that encodes to UTF-8 (no lone surrogates)."""
    if not isinstance(value, str):
        hint = " (decode bytes first)" if isinstance(value, (bytes, bytearray)) else ""
        raise TypeError(f"{what} must be str, not {type_name(value)}{hint}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidArgument(
            f"{what} is not valid UTF-8: it holds the lone surrogate "
            f"U+{ord(value[e.start]):04X} at index {e.start}"
        ) from None
    return value


PRECISIONS = ("auto", "f32", "bf16", "int8")


def precision(value: Any) -> str:
    """The embedder's arithmetic: one of PRECISIONS."""
    if value not in PRECISIONS or not isinstance(value, str):
        if not isinstance(value, str):
            raise TypeError(f"precision must be str, not {type_name(value)}")
        raise InvalidArgument(f"precision '{value}' is not one of {', '.join(PRECISIONS)}")
    return value


def optional_text(value: Any, what: str) -> Optional[str]:
    return None if value is None else text(value, what)


def path(value: Any, what: str) -> str:
    """A filesystem path (str or os.PathLike) as str."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bytes):
        raise TypeError(f"{what} must be str or os.PathLike[str], not bytes")
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str or os.PathLike, not {type_name(value)}")
    return text(value, what)


def integer(value: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be int, not {type_name(value)}")
    if not lo <= value <= hi:
        raise InvalidArgument(f"{what} {value} is outside {lo} to {hi}")
    return int(value)


def episode_id(value: Any, what: str = "id") -> int:
    """An id as add() returned it (an int; a str of digits is accepted as Mem0 passes ids)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    return integer(value, what, 0, MAX_ID)


def number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number, not {type_name(value)}")
    return float(value)


def flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be bool, not {type_name(value)}")
    return value


def string_map(value: Any, what: str) -> dict[str, str]:
    """A dict of str to str (engram keeps metadata as text)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a dict of str to str, not {type_name(value)}")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise TypeError(f"{what} keys must be str, not {type_name(key)}")
        if not isinstance(item, str):
            raise TypeError(
                f"{what}[{key!r}] must be str, not {type_name(item)} "
                "(engram keeps metadata as text; convert with str())"
            )
        out[text(key, f"{what} key")] = text(item, f"{what}[{key!r}]")
    return out


def string_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise TypeError(f"{what} must be a list of str, not {type_name(value)}")
    return [text(item, f"{what}[{i}]") for i, item in enumerate(value)]


def choose(value: Any, alias: Any, name: str, alias_name: str, default: str) -> str:
    """`name` or its Mem0 alias (user_id for namespace, run_id for session), not both."""
    if alias is None:
        return text(value, name)
    if value != default:
        raise InvalidArgument(f"give {name} or {alias_name}, not both")
    return text(alias, alias_name)
