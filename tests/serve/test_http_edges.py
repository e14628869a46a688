# Authentication, bad input (with curl and raw sockets), /metrics. After every test here the
# shared server must still be healthy.
import json
import socket
import time

import openai
import pytest

from conftest import KEYS, wait_until

CHAT = "/v1/chat/completions"


def chat_body(**overrides):
    body = {"model": "engram", "messages": [{"role": "user", "content": "Say hi."}],
            "max_tokens": 4, "temperature": 0}
    body.update(overrides)
    return body


@pytest.fixture(autouse=True)
def still_healthy(server):
    yield
    server.assert_healthy()


def assert_error(r, status):
    if isinstance(status, int):
        status = (status,)
    assert r.status in status, r
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    return r.error_message()


# --- auth ------------------------------------------------------------------------------------
def test_no_key_is_401(server):
    for method, path, body in (("POST", CHAT, chat_body()), ("GET", "/v1/models", None),
                               ("GET", "/metrics", None), ("GET", "/v1/sessions", None),
                               ("GET", "/v1/memory?namespace=notes", None)):
        r = server.curl(method, path, key=None, json_body=body)
        assert_error(r, 401)


def test_wrong_key_is_401(server):
    for key in ("sk-not-a-known-key-0000000000", KEYS["alpha"] + "x", KEYS["alpha"][:-1], ""):
        r = server.curl("GET", "/v1/models", key=key)
        assert_error(r, 401)
    r = server.curl("GET", "/v1/models", key=None,
                    headers=(f"Authorization: Basic {KEYS['alpha']}",))
    assert_error(r, 401)
    bad = openai.OpenAI(base_url=server.base_url + "/v1", api_key="sk-wrong-key-0123456789",
                        max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="engram", messages=[{"role": "user", "content": "x"}],
                                    max_tokens=2)


def test_health_without_key(server):
    r = server.curl("GET", "/health", key=None)
    assert r.status == 200, r
    assert r.json().get("status") == "ok"


def test_health_head_without_key(server):
    # Load balancers probe with HEAD; RFC 9110 9.1: general-purpose servers MUST support HEAD
    # wherever GET is.
    r = server.curl("HEAD", "/health", key=None, extra_args=("-I",))
    assert r.status == 200, r


# --- bad input -------------------------------------------------------------------------------
def test_malformed_json(server):
    for body in ('{"model": "engram", "messages": [', "not json at all", "", "[]", "null",
                 '{"messages": [{"role": "user", "content": "hi"}]} trailing'):
        r = server.curl("POST", CHAT, body=body)
        assert_error(r, 400)
    r = server.curl("POST", "/v1/embeddings", body='{"input": ')
    assert_error(r, 400)
    r = server.curl("POST", "/v1/memory", body='{"namespace": "notes", "text": ')
    assert_error(r, 400)
    # Deeply nested JSON (a parser or destructor that recurses would overflow its stack).
    deep = '{"messages": ' + "[" * 300000 + "]" * 300000 + "}"
    r = server.curl("POST", CHAT, body=deep)
    assert_error(r, 400)
    deep = '{"namespace": "n", "text": "x", "metadata": ' + '{"a": ' * 100000 + "1" + \
           "}" * 100000 + "}"
    r = server.curl("POST", "/v1/memory", body=deep)
    assert_error(r, 400)


def test_truncated_body(server):
    # Content-Length promises more than is sent: the server must answer 400/408 or close the
    # connection (not hang forever, not crash); the client gives up after 5 s.
    r = server.curl("POST", CHAT, body='{"model": "engram"', headers=("Content-Length: 4000",),
                    timeout=5)
    if r.status != 0:
        assert_error(r, (400, 408))
    else:
        assert r.curl_exit in (28, 52, 56), r  # timeout, empty reply, connection reset
    server.assert_healthy()
    # The same with a raw socket that closes its sending side: the server sees EOF mid-body.
    with socket.create_connection((server.host, server.port), timeout=30) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                  b"Authorization: Bearer " + KEYS["alpha"].encode() + b"\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n{\"model\"")
        s.shutdown(socket.SHUT_WR)
        data = recv_all(s)
    if data:
        assert data.startswith(b"HTTP/1.1 400") or data.startswith(b"HTTP/1.1 408"), data[:200]


def recv_all(s):
    chunks = []
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_body_too_large(server):
    big = '{"model": "engram", "messages": [{"role": "user", "content": "' + "a" * (2 << 20) + \
          '"}]}'
    r = server.curl("POST", CHAT, body=big)
    assert_error(r, 413)
    # Announced by Content-Length only (the body never comes): 413 without reading it.
    r = server.curl("POST", "/v1/embeddings", body="{}",
                    headers=("Content-Length: 5000000000",), timeout=10)
    assert_error(r, 413)


def test_wrong_types(server):
    cases = [chat_body(max_tokens="10"), chat_body(messages=5), chat_body(messages=[]),
             chat_body(messages=[{"role": "user", "content": 5}]),
             chat_body(messages=[{"role": "wizard", "content": "hi"}]),
             chat_body(temperature="hot"), chat_body(max_tokens=-1), chat_body(max_tokens=0),
             chat_body(max_tokens=2.5), chat_body(stream="yes"), chat_body(stop=7),
             chat_body(seed="x"), chat_body(top_p=7)]
    for body in cases:
        r = server.curl("POST", CHAT, json_body=body)
        assert_error(r, 400)
    for body in ({"input": 5}, {"input": []}, {"input": [1, 2]}, {"input": "x",
                                                                  "encoding_format": "hex"}):
        r = server.curl("POST", "/v1/embeddings", json_body=body)
        assert_error(r, 400)
    for body in ({"namespace": "notes", "text": 5}, {"namespace": 5, "text": "x"},
                 {"namespace": "../etc", "text": "x"}, {"text": "x"}):
        r = server.curl("POST", "/v1/memory", json_body=body)
        assert_error(r, 400)
    r = server.curl("POST", "/v1/sessions", json_body={"max_tokens": "many"})
    assert_error(r, 400)
    r = server.curl("POST", "/v1/collections", json_body={"name": "../../escape"})
    assert_error(r, 400)


def test_invalid_utf8(server):
    body = (b'{"model": "engram", "messages": [{"role": "user", "content": "caf\xc3 \xff\xfe"}],'
            b' "max_tokens": 4}')
    r = server.curl("POST", CHAT, body=body)
    assert_error(r, 400)
    r = server.curl("POST", "/v1/memory", body=b'{"namespace": "notes", "text": "\xed\xa0\x80"}')
    assert_error(r, 400)
    r = server.curl("POST", "/v1/embeddings", body=b'{"input": "\xc0\xaf"}')
    assert_error(r, 400)


def test_huge_max_tokens(server):
    r = server.curl("POST", CHAT, json_body=chat_body(max_tokens=10_000_000))
    assert_error(r, 400)
    r = server.curl("POST", CHAT, json_body=chat_body(max_tokens=2 ** 40))
    assert_error(r, 400)


def test_unknown_route_and_wrong_method(server):
    r = server.curl("GET", "/v1/nothing-here")
    assert_error(r, 404)
    r = server.curl("POST", "/v2/chat/completions", json_body=chat_body())
    assert_error(r, 404)
    r = server.curl("GET", CHAT)
    assert_error(r, 405)
    r = server.curl("DELETE", "/v1/models")
    assert_error(r, 405)
    r = server.curl("PUT", "/v1/embeddings", json_body={"input": "x"})
    assert_error(r, 405)


def test_slow_clients_do_not_block_others(server):
    # Clients that send part of their headers (or headers and no body) and then stall.
    stalled = []
    try:
        for i in range(4):
            s = socket.create_connection((server.host, server.port), timeout=30)
            if i % 2:
                s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                          b"Authorization: Bearer " + KEYS["alpha"].encode() + b"\r\n"
                          b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n")
            else:
                s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n")
            stalled.append(s)
        time.sleep(0.5)
        start = time.monotonic()
        r = server.curl("POST", CHAT, json_body=chat_body(), timeout=60)
        assert r.status == 200, r
        r = server.curl("GET", "/health", key=None, timeout=10)
        assert r.status == 200, r
        assert time.monotonic() - start < 30
    finally:
        for s in stalled:
            s.close()


def test_many_connections_opened_and_dropped(server):
    # Connections that close at once, or mid-request, leave the server serving.
    for i in range(50):
        s = socket.create_connection((server.host, server.port), timeout=10)
        if i % 3 == 1:
            s.sendall(b"GET /health HTTP/1.1\r\n")
        elif i % 3 == 2:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 10\r\n\r\n{")
        s.close()
    server.assert_healthy()


def gauges(server):
    r = server.curl("GET", "/metrics", timeout=10)
    assert r.status == 200, r
    return {line.split()[0]: float(line.split()[-1]) for line in r.text.splitlines()
            if line.startswith("engram_") and " " in line and "{" not in line.split()[0]}


@pytest.mark.parametrize("kind", ["chat_stream", "chat", "session_stream", "session"])
def test_client_disconnect_cancels(server, kind):
    # A client that goes away (streaming or not): the server stops generating for it at once
    # (a 1000-token reply would take many seconds here) and frees its KV blocks.
    assert wait_until(lambda: gauges(server)["engram_active_sequences"] == 0, timeout=60)
    before = gauges(server)
    stream = kind.endswith("_stream")
    story = "Write a long story about a lighthouse keeper."
    if kind.startswith("chat"):
        path = "/v1/chat/completions"
        body = {"model": "engram", "max_tokens": 1000, "temperature": 0, "stream": stream,
                "messages": [{"role": "user", "content": story}]}
    else:
        r = server.curl("POST", "/v1/sessions", json_body={})
        assert r.status == 201, r
        path = f"/v1/sessions/{r.json()['id']}/messages"
        body = {"content": story, "max_tokens": 1000, "temperature": 0, "stream": stream}
    data = json.dumps(body).encode()
    s = socket.create_connection((server.host, server.port), timeout=30)
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\n".encode() +
              b"Authorization: Bearer " + KEYS["alpha"].encode() + b"\r\n"
              b"Content-Type: application/json\r\nContent-Length: " +
              str(len(data)).encode() + b"\r\n\r\n" + data)
    if stream:
        first = s.recv(4096)
        assert first.startswith(b"HTTP/1.1 200"), first[:200]
    assert wait_until(lambda: gauges(server)["engram_active_sequences"] >= 1, timeout=30)
    time.sleep(0.3)
    s.close()
    assert wait_until(lambda: gauges(server)["engram_active_sequences"] == 0, timeout=5), \
        f"still decoding 5 s after the client left ({kind}): {gauges(server)}"
    after = gauges(server)
    assert after["engram_kv_cache_blocks_used"] == 0, after
    generated = after["engram_generated_tokens_total"] - before["engram_generated_tokens_total"]
    assert generated < 1000, f"generated {generated} tokens for a client that left"


# --- metrics ---------------------------------------------------------------------------------
def test_metrics(server):
    server.curl("GET", "/v1/models")
    r = server.curl("GET", "/metrics")
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("text/plain"), r.headers
    text = r.text
    for name in ("engram_http_requests_total", "engram_queue_depth", "engram_active_sequences",
                 "engram_kv_cache_blocks_used", "engram_kv_cache_blocks_total"):
        assert f"\n{name}" in "\n" + text, f"{name} missing from /metrics:\n{text[:2000]}"
    assert 'route="/v1/models"' in text
    total = [line for line in text.splitlines() if line.startswith("engram_kv_cache_blocks_total")]
    assert float(total[0].split()[-1]) > 0, total
    r = server.curl("GET", "/metrics", key=None)
    assert_error(r, 401)
