"""Helpers shared by the golden generators: where models and shared data live, and how a case of
tests/data/tokenize/corpus.jsonl resolves to its bytes.

A case holds exactly one of
  "text": inline synthetic text (str; its bytes are its UTF-8 encoding),
  "hex":  raw bytes as lowercase hex (invalid UTF-8 and other raw byte cases),
  "ref":  {"file", "pointer"?, "line"?, "span"?} -- a locator into $ENGRAM_SHARED_DATA:
          file    path relative to the shared data directory;
          line    0-based line number (only for .jsonl files; the pointer then applies to the JSON
                  object on that line);
          pointer RFC 6901 JSON pointer to a string (absent for plain text files);
          span    [byte_start, byte_len] into the UTF-8 encoding of the pointed-to string, or into
                  the raw bytes of a plain text file; absent = the whole string / file.
and "bytes" + "sha256" of the resolved bytes, so that a consumer detects data drift.

Importable (``import corpus_text``) from the other generators; no third-party dependencies.
"""
import hashlib
import json
import os
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "data" / "tokenize" / "corpus.jsonl"


def shared_data_dir() -> pathlib.Path:
    env = os.environ.get("ENGRAM_SHARED_DATA")
    d = pathlib.Path(env) if env else (REPO / ".." / "shared" / "data")
    d = d.resolve()
    if not d.is_dir():
        raise SystemExit(f"shared data directory not found: {d} (set ENGRAM_SHARED_DATA)")
    return d


def models_dir() -> pathlib.Path:
    env = os.environ.get("ENGRAM_MODELS_DIR")
    d = pathlib.Path(env) if env else pathlib.Path.home() / ".cache" / "engram" / "models"
    if not d.is_dir():
        raise SystemExit(f"models directory not found: {d} (set ENGRAM_MODELS_DIR)")
    return d


def json_pointer(doc, pointer: str):
    """Resolves an RFC 6901 JSON pointer ("" = the whole document)."""
    if pointer == "":
        return doc
    if not pointer.startswith("/"):
        raise ValueError(f"bad JSON pointer {pointer!r}")
    cur = doc
    for tok in pointer[1:].split("/"):
        tok = tok.replace("~1", "/").replace("~0", "~")
        if isinstance(cur, list):
            cur = cur[int(tok)]
        else:
            cur = cur[tok]
    return cur


def pointer_of(*parts) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class Resolver:
    """Resolves corpus cases to bytes, caching the parsed shared-data files."""

    def __init__(self, shared=None):
        self.shared = pathlib.Path(shared) if shared else shared_data_dir()
        self._raw = {}
        self._json = {}

    def raw(self, rel: str) -> bytes:
        if rel not in self._raw:
            self._raw[rel] = (self.shared / rel).read_bytes()
        return self._raw[rel]

    def doc(self, rel: str, line=None):
        key = (rel, line)
        if key not in self._json:
            data = self.raw(rel)
            if line is None:
                self._json[key] = json.loads(data.decode("utf-8"))
            else:
                self._json[key] = json.loads(data.split(b"\n")[line].decode("utf-8"))
        return self._json[key]

    def ref_bytes(self, ref: dict) -> bytes:
        """The whole pointed-to string (or file) as bytes, before the span is applied."""
        if "pointer" in ref:
            s = json_pointer(self.doc(ref["file"], ref.get("line")), ref["pointer"])
            if not isinstance(s, str):
                raise ValueError(f"pointer {ref} does not name a string")
            return s.encode("utf-8")
        return self.raw(ref["file"])

    def case_bytes(self, case: dict) -> bytes:
        if "text" in case:
            return case["text"].encode("utf-8")
        if "hex" in case:
            return bytes.fromhex(case["hex"])
        ref = case["ref"]
        b = self.ref_bytes(ref)
        if "span" in ref:
            start, length = ref["span"]
            if start < 0 or length < 0 or start + length > len(b):
                raise ValueError(f"span out of range in {ref}")
            b = b[start:start + length]
        return b

    def checked_bytes(self, case: dict) -> bytes:
        b = self.case_bytes(case)
        if len(b) != case["bytes"] or hashlib.sha256(b).hexdigest() != case["sha256"]:
            raise SystemExit(f"case {case['id']}: bytes/sha256 mismatch (shared data drifted?)")
        return b


def load_corpus(path=CORPUS):
    with open(path, encoding="utf-8") as f:
        cases = [json.loads(line) for line in f if line.strip()]
    for i, c in enumerate(cases):
        assert c["id"] == i, f"corpus id {c['id']} at position {i}"
    return cases


def iter_cases(path=CORPUS, shared=None):
    """Yields (case, bytes) for every corpus case, verifying length and sha256."""
    r = Resolver(shared)
    for c in load_corpus(path):
        yield c, r.checked_bytes(c)


def as_text(b: bytes):
    """(str, "utf8") for valid UTF-8, else (str decoded with errors="replace", "replaced")."""
    try:
        return b.decode("utf-8"), "utf8"
    except UnicodeDecodeError:
        return b.decode("utf-8", errors="replace"), "replaced"


def ids_str(ids) -> str:
    return " ".join(str(int(i)) for i in ids)


def pkg_version(name: str) -> str:
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # pragma: no cover
        return "unknown"
