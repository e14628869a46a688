"""Fixtures for the engram package tests: real stores on disk (tmp_path), the real default
embedder (all-MiniLM-L6-v2 from $ENGRAM_MODELS_DIR, default ~/.cache/engram/models), real
child processes. No mocks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import engram


@pytest.fixture
def mem(tmp_path):
    """A Memory with the default embedder in a fresh directory."""
    with engram.Memory(tmp_path / "memory") as m:
        yield m


def run_python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh interpreter (the same one as the tests); fails on a non-zero exit."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{proc.stderr}"
    return proc


def popen_python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-u", "-c", textwrap.dedent(code), *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))
