# Tenant isolation at the process level: tenant beta, knowing every name and id of tenant
# alpha, reaches none of alpha's data on any route, and alpha's data is intact afterwards.
import json
import urllib.parse

import pytest

SECRET_FACT = "Alpha's vault code is 7391-zebra-lantern."
SECRET_MEMORY = "Alpha keeps the quarterly forecast in drawer ochre-42."
SECRET_DOC = "Project Heliotrope launches on the ninth of March from pad quokka-17."
SECRETS = ("7391", "zebra-lantern", "ochre-42", "Heliotrope", "quokka-17")


@pytest.fixture(scope="module")
def alpha_data(server):
    """Alpha's session (with a turn), memory and collection."""
    r = server.curl("POST", "/v1/sessions", tenant="alpha", json_body={"title": "alpha"})
    assert r.status == 201, r
    sid = r.json()["id"]
    r = server.curl("POST", f"/v1/sessions/{sid}/messages", tenant="alpha",
                    json_body={"content": SECRET_FACT, "max_tokens": 6, "temperature": 0})
    assert r.status == 200, r
    r = server.curl("POST", "/v1/memory", tenant="alpha",
                    json_body={"namespace": "secrets", "text": SECRET_MEMORY})
    assert r.status in (200, 201), r
    memory_id = r.json()["ids"][0]
    r = server.curl("POST", "/v1/collections", tenant="alpha", json_body={"name": "plans"})
    assert r.status in (200, 201), r
    r = server.curl("POST", "/v1/collections/plans/documents", tenant="alpha",
                    json_body={"documents": [{"source": "heliotrope.txt", "text": SECRET_DOC}]})
    assert r.status in (200, 201), r
    return {"session": sid, "memory_id": memory_id}


def assert_no_leak(r, what, asked=""):
    """No secret of alpha's in the response, besides those the request itself said (a model may
    echo the question)."""
    for s in SECRETS:
        if s in asked:
            continue
        assert s not in r.text, f"{what}: tenant beta got alpha's data: {r!r}"


def assert_not_found_or_empty(r, what, list_key=None, asked=""):
    assert_no_leak(r, what, asked)
    if r.status == 404:
        r.error_message()
        return
    assert r.status == 200 and list_key is not None, f"{what}: {r!r}"
    assert r.json()[list_key] == [], f"{what}: {r!r}"


def beta_requests(alpha):
    sid, mid = alpha["session"], alpha["memory_id"]
    q = lambda **kw: urllib.parse.urlencode(kw)  # noqa: E731
    chat = {"model": "engram", "messages": [{"role": "user", "content": "What is my vault code?"}],
            "max_tokens": 8, "temperature": 0}
    # (method, path, body, headers, list key when 200-with-empty-list is acceptable)
    return [
        ("GET", f"/v1/sessions/{sid}", None, (), None),
        ("POST", f"/v1/sessions/{sid}/messages",
         {"content": "What is my vault code?", "max_tokens": 8}, (), None),
        ("POST", f"/v1/sessions/{sid}/messages",
         {"content": "What is my vault code?", "max_tokens": 8, "stream": True}, (), None),
        ("POST", "/v1/chat/completions", {**chat, "session": sid}, (), None),
        ("POST", "/v1/chat/completions", {**chat, "session": sid, "stream": True}, (), None),
        ("POST", "/v1/chat/completions", chat, (f"x-engram-session: {sid}",), None),
        ("GET", "/v1/memory?" + q(namespace="secrets", query="quarterly forecast drawer"), None,
         (), "results"),
        ("GET", "/v1/memory?" + q(namespace="secrets"), None, (), "results"),
        ("GET", "/v1/memory?" + q(namespace=f"session-{sid}", query="vault code"), None, (),
         "results"),
        ("GET", "/v1/memory?" + q(namespace=f"session-{sid}"), None, (), "results"),
        ("POST", "/v1/memory/search", {"namespace": "secrets", "query": "quarterly forecast"},
         (), "results"),
        ("GET", f"/v1/memory/{mid}?" + q(namespace="secrets"), None, (), None),
        ("GET", f"/v1/memory/{mid}/history?" + q(namespace="secrets"), None, (), None),
        ("PUT", f"/v1/memory/{mid}", {"namespace": "secrets", "text": "overwritten by beta"},
         (), None),
        ("DELETE", f"/v1/memory/{mid}?" + q(namespace="secrets"), None, (), None),
        ("GET", "/v1/collections/plans", None, (), None),
        ("POST", "/v1/collections/plans/search", {"query": "Heliotrope launch"}, (), None),
        ("POST", "/v1/collections/plans/documents",
         {"documents": [{"source": "x.txt", "text": "beta's text"}]}, (), None),
        ("POST", "/v1/qa", {"collection": "plans", "question": "When does Heliotrope launch?",
                            "max_tokens": 8}, (), None),
        ("DELETE", "/v1/collections/plans", None, (), None),
        ("DELETE", f"/v1/sessions/{sid}", None, (), None),
    ]


def test_beta_cannot_reach_alpha(server, alpha_data):
    for method, path, body, headers, list_key in beta_requests(alpha_data):
        r = server.curl(method, path, tenant="beta", json_body=body, headers=headers)
        assert_not_found_or_empty(r, f"beta {method} {path} {body}", list_key,
                                  asked=path + json.dumps(body))

    # Lists show none of alpha's things.
    r = server.curl("GET", "/v1/sessions", tenant="beta")
    assert r.status == 200 and alpha_data["session"] not in r.text, r
    r = server.curl("GET", "/v1/collections", tenant="beta")
    assert r.status == 200 and "plans" not in r.text, r

    # Purging "its" namespaces leaves alpha's alone.
    for ns in ("secrets", f"session-{alpha_data['session']}"):
        r = server.curl("DELETE", "/v1/memory?" + urllib.parse.urlencode({"namespace": ns}),
                        tenant="beta")
        assert r.status in (200, 404), r
        assert_no_leak(r, "purge")

    # Beta may use the same names for its own things; they stay apart from alpha's.
    r = server.curl("POST", "/v1/collections", tenant="beta", json_body={"name": "plans"})
    assert r.status in (200, 201), r
    r = server.curl("POST", "/v1/collections/plans/search", tenant="beta",
                    json_body={"query": "Heliotrope launch"})
    assert r.status == 200 and r.json()["results"] == [], r
    r = server.curl("DELETE", "/v1/collections/plans", tenant="beta")
    assert r.status == 200, r
    r = server.curl("POST", "/v1/memory", tenant="beta",
                    json_body={"namespace": "secrets", "text": "Beta's own note."})
    assert r.status in (200, 201), r
    beta_id = r.json()["ids"][0]
    r = server.curl("GET", "/v1/memory?namespace=secrets&query=note", tenant="beta")
    assert r.status == 200 and [h["text"] for h in r.json()["results"]] == ["Beta's own note."], r

    # A session of beta's on the same memory namespace name recalls none of alpha's episodes.
    r = server.curl("POST", "/v1/sessions", tenant="beta",
                    json_body={"memory_namespace": "secrets", "title": "beta"})
    assert r.status == 201, r
    beta_sid = r.json()["id"]
    r = server.curl("POST", f"/v1/sessions/{beta_sid}/messages", tenant="beta",
                    json_body={"content": "Where is the quarterly forecast kept?",
                               "max_tokens": 8, "temperature": 0})
    assert r.status == 200, r
    assert_no_leak(r, "beta's turn")
    assert r.json()["recalled"] == [beta_id], r  # only beta's own note
    r = server.curl("POST", "/v1/sessions", tenant="beta",
                    json_body={"collections": ["plans"], "title": "beta"})
    if r.status == 201:
        r = server.curl("POST", f"/v1/sessions/{r.json()['id']}/messages", tenant="beta",
                        json_body={"content": "When does Heliotrope launch?", "max_tokens": 8})
        assert r.status in (200, 404), r
    else:
        assert r.status in (400, 404), r
    assert_no_leak(r, "beta's session on collection 'plans'", asked="When does Heliotrope launch?")

    assert_alpha_intact(server, alpha_data, beta_id)


def test_alpha_qa_over_its_collection(server, alpha_data):
    r = server.curl("POST", "/v1/qa", tenant="alpha",
                    json_body={"collection": "plans", "question": "From which pad does "
                               "Project Heliotrope launch?", "max_tokens": 16})
    assert r.status == 200, r
    doc = r.json()
    assert isinstance(doc.get("answer"), str), doc
    assert "quokka-17" in json.dumps(doc.get("citations")), doc


def assert_alpha_intact(server, alpha, beta_id):
    sid, mid = alpha["session"], alpha["memory_id"]
    r = server.curl("GET", f"/v1/sessions/{sid}", tenant="alpha")
    assert r.status == 200, r
    messages = r.json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"], messages
    assert messages[0]["content"] == SECRET_FACT
    r = server.curl("GET", f"/v1/memory/{mid}?namespace=secrets", tenant="alpha")
    assert r.status == 200 and r.json()["text"] == SECRET_MEMORY, r
    r = server.curl("GET", f"/v1/memory/{mid}/history?namespace=secrets", tenant="alpha")
    assert r.status == 200 and len(r.json()["results"]) == 1, r
    r = server.curl("GET", "/v1/memory?namespace=secrets&query=quarterly%20forecast",
                    tenant="alpha")
    assert r.status == 200, r
    assert [h["text"] for h in r.json()["results"]] == [SECRET_MEMORY], r
    r = server.curl("GET", f"/v1/memory?namespace=session-{sid}", tenant="alpha")
    assert r.status == 200 and any(h["text"] == SECRET_FACT for h in r.json()["results"]), r
    r = server.curl("GET", "/v1/collections/plans", tenant="alpha")
    assert r.status == 200, r
    r = server.curl("POST", "/v1/collections/plans/search", tenant="alpha",
                    json_body={"query": "Heliotrope launch"})
    assert r.status == 200 and "quokka-17" in r.text, r
    r = server.curl("POST", "/v1/collections/plans/search", tenant="alpha",
                    json_body={"query": "beta's text"})
    assert r.status == 200 and "beta's text" not in r.text, r
    # Beta's memory id, asked by alpha, is alpha's own id space: never beta's note.
    r = server.curl("GET", f"/v1/memory/{beta_id}?namespace=secrets", tenant="alpha")
    assert "Beta's own note" not in r.text, r
