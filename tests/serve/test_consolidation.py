# A long session: once it passes the consolidation threshold (40 episodes) its older turns are
# summarised in the background. What the user said must still be there, unchanged ("older
# history comes back through recall and consolidation summaries, never silently cut").
import re
import time

import pytest

FACTS = [
    "My sister Ana lives in Porto.",
    "My brother Rui is 34 years old.",
    "My flat is number 5B on floor 12.",
    "My dog Pixel was born in 2019.",
    "My bank is Caixa and my branch code is 0417.",
    "My daughter Leonor studies in Coimbra.",
    "My car plate ends in 88-QZ.",
    "My gym locker is number 213.",
]
FILLERS = ["Say ok.", "Name a colour.", "Say hello.", "Name a fruit.", "Count to two.",
           "Name a month.", "Say yes.", "Name a tree.", "Say goodbye.", "Name a river.",
           "Name a city.", "Say thanks.", "Name a bird.", "Name a sport."]


@pytest.fixture(scope="module")
def long_session(make_server):
    server = make_server()
    r = server.curl("POST", "/v1/sessions", json_body={"title": "long"})
    assert r.status == 201, r
    sid = r.json()["id"]
    for content in FACTS + FILLERS:  # 22 turns: 44 episodes, past the threshold of 40
        r = server.curl("POST", f"/v1/sessions/{sid}/messages",
                        json_body={"content": content, "max_tokens": 4, "temperature": 0})
        assert r.status == 200, r

    def listing():
        r = server.curl("GET", f"/v1/memory?namespace=session-{sid}&limit=1000")
        assert r.status == 200, r
        return r.json()["results"]

    deadline = time.monotonic() + 120
    while not any(e["role"] == "summary" for e in listing()):
        assert time.monotonic() < deadline, "no consolidation summary within 120 s"
        time.sleep(0.5)
    return server, sid, listing()


def test_consolidation_keeps_what_the_user_said(long_session):
    server, sid, episodes = long_session
    text = "\n".join(e["text"] for e in episodes)
    missing, changed = [], []
    for fact in FACTS:
        for token in re.findall(r"[A-Z][a-z]+|\d[\dA-Z-]*", fact):
            if token in ("My",):
                continue
            if token not in text:
                missing.append((fact, token))
    summary = [e["text"] for e in episodes if e["role"] == "summary"]
    assert not missing, (f"after consolidation these facts lost their names/numbers: {missing}; "
                         f"summary: {summary}")


def test_consolidated_session_recalls_turn_one(long_session):
    server, sid, _ = long_session
    r = server.curl("POST", f"/v1/sessions/{sid}/messages",
                    json_body={"content": "Where does my sister live?", "max_tokens": 8,
                               "temperature": 0})
    assert r.status == 200, r
    recalled = r.json()["recalled"]
    texts = []
    for eid in recalled:
        e = server.curl("GET", f"/v1/memory/{eid}?namespace=session-{sid}")
        assert e.status == 200, e
        texts.append(e.json()["text"])
    assert any("Ana" in t and "Porto" in t for t in texts), texts


def test_consolidated_session_lists_every_message(long_session):
    # GET /v1/sessions/{id} says message_count N; its messages are the session's messages.
    server, sid, _ = long_session
    r = server.curl("GET", f"/v1/sessions/{sid}")
    assert r.status == 200, r
    doc = r.json()
    contents = [m["content"] for m in doc["messages"] if m["role"] == "user"]
    assert len(doc["messages"]) == doc["message_count"], (
        f"message_count {doc['message_count']} but {len(doc['messages'])} messages listed")
    assert contents[:len(FACTS)] == FACTS, contents
