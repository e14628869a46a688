# The OpenAI-compatible endpoints through the official `openai` Python package.
import math
from concurrent.futures import ThreadPoolExecutor

import pytest

PROMPT = [{"role": "user", "content": "Name three colours of the rainbow."}]


def test_models_list(server):
    client = server.openai()
    models = client.models.list()
    ids = [m.id for m in models.data]
    assert ids and all(isinstance(i, str) and i for i in ids), ids
    assert client.models.retrieve(ids[0]).id == ids[0]


def test_chat_completion(server):
    client = server.openai()
    r = client.chat.completions.create(model="engram", messages=PROMPT, max_tokens=16,
                                       temperature=0)
    assert isinstance(r.model, str) and r.model
    assert r.object == "chat.completion"
    assert r.id
    assert len(r.choices) == 1
    choice = r.choices[0]
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens > 0
    assert 0 < r.usage.completion_tokens <= 16
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    if choice.finish_reason == "length":
        assert r.usage.completion_tokens == 16


def test_chat_max_completion_tokens(server):
    # Newer clients send max_completion_tokens instead of max_tokens.
    client = server.openai()
    r = client.chat.completions.create(model="engram", messages=PROMPT, temperature=0,
                                       max_completion_tokens=5)
    assert 0 < r.usage.completion_tokens <= 5, r.usage


def test_chat_greedy_is_deterministic(server):
    client = server.openai()
    a = client.chat.completions.create(model="engram", messages=PROMPT, max_tokens=16,
                                       temperature=0)
    b = client.chat.completions.create(model="engram", messages=PROMPT, max_tokens=16,
                                       temperature=0)
    assert a.choices[0].message.content == b.choices[0].message.content


def test_chat_streaming(server):
    client = server.openai()
    stream = client.chat.completions.create(model="engram", messages=PROMPT, max_tokens=16,
                                            temperature=0, stream=True)
    chunks = list(stream)
    assert chunks
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    with_choices = [c for c in chunks if c.choices]
    assert with_choices[-1].choices[0].finish_reason in ("stop", "length")
    assert all(c.choices[0].finish_reason is None for c in with_choices[:-1])
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    # Streamed greedy text equals the non-streamed one.
    whole = client.chat.completions.create(model="engram", messages=PROMPT, max_tokens=16,
                                           temperature=0)
    assert text == whole.choices[0].message.content


def test_chat_streaming_include_usage(server):
    client = server.openai()
    stream = client.chat.completions.create(model="engram", messages=PROMPT, max_tokens=12,
                                            temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1, chunks
    last = chunks[-1]
    assert last.usage is not None and last.choices == []
    assert last.usage.prompt_tokens > 0
    assert 0 < last.usage.completion_tokens <= 12
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()


def test_chat_stop_is_honoured(server):
    client = server.openai()
    messages = [{"role": "user", "content": "Write two sentences about dogs."}]
    full = client.chat.completions.create(model="engram", messages=messages, max_tokens=24,
                                          temperature=0).choices[0].message.content
    # A three-character stop string from the middle of the greedy reply (its first occurrence
    # is where the reply must end).
    candidates = [full[k:k + 3] for k in range(len(full) // 2, len(full) - 3)
                  if full[k:k + 3].strip() == full[k:k + 3] and full.find(full[k:k + 3]) > 0]
    assert candidates, f"no stop string to use in {full!r}"
    stop = candidates[0]
    cut = full.find(stop)
    r = client.chat.completions.create(model="engram", messages=messages, max_tokens=24,
                                       temperature=0, stop=[stop])
    content = r.choices[0].message.content
    assert stop not in content, (stop, content, full)
    assert content.rstrip() == full[:cut].rstrip(), (stop, content, full)
    assert r.choices[0].finish_reason == "stop"
    # Streamed, the stop string is held back too.
    stream = client.chat.completions.create(model="engram", messages=messages, max_tokens=24,
                                            temperature=0, stop=stop, stream=True)
    streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert stop not in streamed, (stop, streamed, full)
    assert streamed.rstrip() == full[:cut].rstrip()


def test_chat_seed_reproducible(server):
    client = server.openai()
    messages = [{"role": "user", "content": "Write one sentence about the sea."}]
    kwargs = dict(model="engram", messages=messages, max_tokens=20, temperature=0.9, top_p=0.95)
    a = client.chat.completions.create(seed=1234, **kwargs).choices[0].message.content
    b = client.chat.completions.create(seed=1234, **kwargs).choices[0].message.content
    assert a and a == b
    # Different seeds should (almost surely) give some different text over a few tries.
    others = {client.chat.completions.create(seed=s, **kwargs).choices[0].message.content
              for s in (1, 2, 3)}
    assert others - {a}, f"seed has no effect: {a!r} {others!r}"


def _norm(v):
    return math.sqrt(sum(x * x for x in v))


def test_embeddings_one(server):
    client = server.openai()
    r = client.embeddings.create(model="engram-embed", input="The cat sat on the mat.")
    assert len(r.data) == 1
    v = r.data[0].embedding
    assert len(v) == 384
    assert abs(_norm(v) - 1.0) < 1e-3
    assert r.data[0].index == 0
    assert r.usage.prompt_tokens > 0


def test_embeddings_several_and_float(server):
    client = server.openai()
    texts = ["The cat sat on the mat.", "A kitten rests on a rug.", "Stock markets fell today."]
    r = client.embeddings.create(model="engram-embed", input=texts)  # base64 by default
    assert [d.index for d in r.data] == [0, 1, 2]
    vs = [d.embedding for d in r.data]
    assert all(len(v) == 384 and abs(_norm(v) - 1.0) < 1e-3 for v in vs)
    dot = lambda a, b: sum(x * y for x, y in zip(a, b))  # noqa: E731
    assert dot(vs[0], vs[1]) > dot(vs[0], vs[2])  # similar texts are closer
    f = client.embeddings.create(model="engram-embed", input=texts, encoding_format="float")
    for a, b in zip(vs, (d.embedding for d in f.data)):
        assert max(abs(x - y) for x, y in zip(a, b)) < 1e-5
    # The same text alone embeds the same as in a batch.
    alone = client.embeddings.create(model="engram-embed", input=texts[2]).data[0].embedding
    assert max(abs(x - y) for x, y in zip(alone, vs[2])) < 1e-4


def test_concurrent_streams(server):
    client = server.openai()
    prompts = ["Say hi.", "Name a fruit.", "Name a city.", "Say a number.",
               "Name an animal.", "Say a colour.", "Name a planet.", "Say a greeting."]

    def run(prompt):
        stream = client.chat.completions.create(
            model="engram", messages=[{"role": "user", "content": prompt}], max_tokens=16,
            temperature=0, stream=True)
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
        return text, finish

    with ThreadPoolExecutor(len(prompts)) as pool:
        results = list(pool.map(run, prompts))
    for prompt, (text, finish) in zip(prompts, results):
        assert text.strip(), f"empty reply to {prompt!r}"
        assert finish in ("stop", "length")
    # Batched greedy decoding equals decoding alone.
    alone = run(prompts[3])[0]
    assert alone == results[3][0]


def test_mixed_concurrent_load(server):
    # Chat, embeddings, memory writes and recalls from 12 threads at once, two tenants.
    clients = {t: server.openai(t) for t in ("alpha", "beta")}

    def work(i):
        tenant = ("alpha", "beta")[(i // 4) % 2]
        kind = i % 4
        if kind == 0:
            r = clients[tenant].chat.completions.create(
                model="engram", messages=[{"role": "user", "content": f"Say {i}."}],
                max_tokens=6, temperature=0)
            return bool(r.choices[0].message.content)
        if kind == 1:
            r = clients[tenant].embeddings.create(model="e", input=[f"text {i}", "other"])
            return len(r.data) == 2 and len(r.data[0].embedding) == 384
        if kind == 2:
            r = server.curl("POST", "/v1/memory", tenant=tenant,
                            json_body={"namespace": "load", "text": f"load note {i} of {tenant}"})
            return r.status in (200, 201)
        r = server.curl("GET", "/v1/memory?namespace=load&query=load%20note", tenant=tenant)
        return r.status == 200 and all(h["text"].endswith(tenant) for h in r.json()["results"])

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(work, range(36)))
    assert all(results), results
    for tenant in ("alpha", "beta"):
        added = sum(1 for i in range(36) if i % 4 == 2 and ("alpha", "beta")[(i // 4) % 2] == tenant)
        r = server.curl("GET", "/v1/memory?namespace=load&limit=100", tenant=tenant)
        texts = [h["text"] for h in r.json()["results"]]
        assert len(texts) == added and all(t.endswith(tenant) for t in texts), texts
