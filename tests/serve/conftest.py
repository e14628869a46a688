# Fixtures for the real-client tests of `engram serve` (tests/serve/run_client_tests.sh runs
# them). A test gets a running server on a free port with its own data directory and two
# tenants, talks to it with the official `openai` package or with curl, and the fixture stops it
# with SIGTERM at the end, asserting a clean exit (0).
#
#   def test_x(server):
#       client = server.openai("alpha")                  # openai.OpenAI for tenant alpha
#       r = server.curl("GET", "/health", key=None)      # Response(status, headers, body)
#       server.kill(); server.start()                     # SIGKILL, then again on the same data
#
# ENGRAM_BINARY names the engram executable (run_client_tests.sh sets it).
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

STARTUP_TIMEOUT_S = 120
STOP_TIMEOUT_S = 120

# Two tenants; keys of at least 16 characters (agent/tenants.h).
KEYS = {
    "alpha": "sk-alpha-0123456789abcdef0123",
    "beta": "sk-beta-fedcba9876543210fedc",
}
LISTENING = re.compile(r"engram serve: listening on http://([^:\s]+):(\d+)")


def engram_binary():
    binary = os.environ.get("ENGRAM_BINARY", "")
    if not binary:
        pytest.fail("ENGRAM_BINARY is not set (run tests/serve/run_client_tests.sh BINARY)")
    if not os.access(binary, os.X_OK):
        pytest.fail(f"ENGRAM_BINARY '{binary}' is not an executable file")
    return binary


@dataclass
class Response:
    status: int            # 0: no HTTP response (see curl_exit)
    headers: dict          # lower-cased names
    body: bytes
    curl_exit: int = 0
    curl_stderr: str = ""

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AssertionError(f"not JSON (status {self.status}): {self.text[:500]!r}") from e

    def error_message(self):
        """The OpenAI-shaped error's message; fails unless the body is such an error."""
        doc = self.json()
        assert isinstance(doc, dict) and isinstance(doc.get("error"), dict), \
            f"status {self.status}: not an error object: {self.text[:500]!r}"
        message = doc["error"].get("message")
        assert isinstance(message, str) and message, f"error without a message: {doc!r}"
        return message

    def __repr__(self):
        return f"Response({self.status}, {self.text[:300]!r}, curl_exit={self.curl_exit})"


def curl(url, method="GET", key=None, body=None, json_body=None, headers=(), timeout=120,
         extra_args=()):
    """One request with curl. `body` is bytes or str sent as is; `json_body` is serialised."""
    with tempfile.TemporaryDirectory(prefix="engram-curl-") as tmp:
        out_path, header_path = Path(tmp, "body"), Path(tmp, "headers")
        args = ["curl", "-sS", "-X", method, "--max-time", str(timeout), "-o", str(out_path),
                "-D", str(header_path), "-w", "%{http_code}", "-H", "Expect:"]
        if key is not None:
            args += ["-H", f"Authorization: Bearer {key}"]
        if json_body is not None:
            body = json.dumps(json_body)
        if body is not None:
            if isinstance(body, str):
                body = body.encode("utf-8")
            body_path = Path(tmp, "request")
            body_path.write_bytes(body)
            args += ["--data-binary", f"@{body_path}"]
            if not any(h.lower().startswith("content-type:") for h in headers):
                args += ["-H", "Content-Type: application/json"]
        for h in headers:
            args += ["-H", h]
        args += list(extra_args) + [url]
        p = subprocess.run(args, capture_output=True, timeout=timeout + 30)
        code = p.stdout.decode().strip()
        status = int(code) if code.isdigit() else 0
        headers_out = {}
        if header_path.exists():
            for line in header_path.read_text(errors="replace").splitlines():
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers_out[name.strip().lower()] = value.strip()
        data = out_path.read_bytes() if out_path.exists() else b""
        return Response(status, headers_out, data, p.returncode, p.stderr.decode(errors="replace"))


class EngramServer:
    """One `engram serve` process (restartable on the same data directory)."""

    def __init__(self, data_dir, key_file, extra_args=()):
        """key_file None: no API keys, every request is the local tenant (the CLI's data)."""
        self.data_dir = Path(data_dir)
        self.key_file = None if key_file is None else Path(key_file)
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = None
        self.host = None
        self.stderr_lines = []
        self._reader = None

    # --- lifecycle -------------------------------------------------------------------------
    def command(self):
        keys = [] if self.key_file is None else ["--api-keys", str(self.key_file)]
        return [engram_binary(), "serve", "--port", "0", "--data-dir", str(self.data_dir),
                *keys, "--threads", "2", "--ctx", "2048", *self.extra_args]

    def start(self):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.stderr_lines = []
        self.port = None
        found = threading.Event()
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def read(proc, lines):
            for raw in proc.stderr:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                lines.append(line)
                m = LISTENING.search(line)
                if m and not found.is_set():
                    self.host, self.port = m.group(1), int(m.group(2))
                    found.set()
            found.set()  # stderr closed: the process ended

        self._reader = threading.Thread(target=read, args=(self.proc, self.stderr_lines),
                                        daemon=True)
        self._reader.start()
        found.wait(STARTUP_TIMEOUT_S)
        if self.port is None:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            pytest.fail(f"engram serve did not print 'listening on' within {STARTUP_TIMEOUT_S} s "
                        f"(exit {self.proc.returncode}); command {' '.join(self.command())}; "
                        f"stderr:\n{self.stderr()}")
        return self

    def stderr(self):
        return "\n".join(self.stderr_lines)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def terminate(self):
        """Sends SIGTERM (does not wait)."""
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout=STOP_TIMEOUT_S):
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"engram serve did not exit within {timeout} s of SIGTERM; stderr:\n"
                        f"{self.stderr()}")
        if self._reader is not None:
            self._reader.join(10)
        return code

    def stop(self):
        """SIGTERM, then asserts the process exits 0."""
        if not self.running():
            code = self.proc.returncode if self.proc else None
            self.proc = None
            assert code in (0, None, -signal.SIGKILL), \
                f"engram serve had already exited with {code}; stderr:\n{self.stderr()}"
            return
        self.terminate()
        code = self.wait()
        self.proc = None
        assert code == 0, f"engram serve exited {code} after SIGTERM; stderr:\n{self.stderr()}"

    def kill(self):
        """SIGKILL (no flushing, no draining) and waits for the process to be gone."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        if self._reader is not None:
            self._reader.join(10)

    def restart(self):
        """SIGTERM (asserting exit 0) and start again on the same data directory."""
        self.stop()
        return self.start()

    # --- clients ---------------------------------------------------------------------------
    @property
    def base_url(self):
        return f"http://{self.host}:{self.port}"

    def openai(self, tenant="alpha", **kwargs):
        import openai
        kwargs.setdefault("timeout", 120.0)
        kwargs.setdefault("max_retries", 0)  # a retry would hide 429s and flaky failures
        return openai.OpenAI(base_url=self.base_url + "/v1", api_key=KEYS[tenant], **kwargs)

    def curl(self, method, path, tenant="alpha", key=..., **kwargs):
        """curl against this server as `tenant` (key=None: no Authorization header)."""
        if key is ...:
            key = KEYS[tenant] if tenant else None
        return curl(self.base_url + path, method=method, key=key, **kwargs)

    def healthy(self):
        r = self.curl("GET", "/health", key=None, timeout=10)
        return r.status == 200

    def assert_healthy(self):
        assert self.running(), f"engram serve died; stderr:\n{self.stderr()}"
        r = self.curl("GET", "/health", key=None, timeout=10)
        assert r.status == 200, f"/health: {r!r}; stderr:\n{self.stderr()[-3000:]}"


def write_keys(directory):
    path = Path(directory, "keys")
    path.write_text("# test tenants\n" + "".join(f"{k} {t}\n" for t, k in KEYS.items()))
    return path


@pytest.fixture(scope="session")
def key_file(tmp_path_factory):
    return write_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def make_server(tmp_path_factory, key_file):
    """make_server(*extra_args) -> a started EngramServer with a fresh data directory; every
    server still running at the end of the session is stopped with SIGTERM (exit 0 asserted)."""
    servers = []

    def make(*extra_args, data_dir=None):
        if data_dir is None:
            data_dir = tmp_path_factory.mktemp("data")
        s = EngramServer(data_dir, key_file, extra_args)
        servers.append(s)
        return s.start()

    yield make
    failures = []
    for s in servers:
        if s.running():
            try:
                s.stop()
            except BaseException as e:  # noqa: BLE001 - report every server
                failures.append(str(e))
    if failures:
        pytest.fail("\n".join(failures))


@pytest.fixture(scope="session")
def server(make_server):
    """The shared server (most tests): default limits but a 1 MiB body limit."""
    return make_server("--max-body-bytes", str(1 << 20))


@pytest.fixture
def own_server(make_server):
    """A server of the test's own (tests that kill, restart or stop it); stopped with SIGTERM
    (exit 0 asserted) at the end of the test when still running."""
    servers = []

    def make(*extra_args, data_dir=None):
        s = make_server(*extra_args, data_dir=data_dir)
        servers.append(s)
        return s

    yield make
    for s in servers:
        if s.running():
            s.stop()


def connect_refused(host, port, timeout=3.0):
    """True when a TCP connect to host:port is refused (nothing listening)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def wait_until(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
