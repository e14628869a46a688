#!/usr/bin/env python3
"""Writes tests/data/sha256_lengths.txt: SHA-256 (Python's hashlib, the peer) of messages of every
length from 0 to 200 bytes, byte i = i % 251. Covers every padding case (55, 56, 63, 64, ...)
of engram's common/sha256.cc."""
import hashlib
import pathlib

out = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "sha256_lengths.txt"
with out.open("w") as f:
    f.write("# length sha256-of-bytes(i % 251 for i in range(length)); from scripts/goldens/sha256_lengths.py\n")
    for n in range(201):
        f.write(f"{n} {hashlib.sha256(bytes(i % 251 for i in range(n))).hexdigest()}\n")
print(f"wrote {out}")
