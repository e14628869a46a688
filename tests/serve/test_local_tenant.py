# A server without API keys serves the local tenant, whose data is the CLI's own: a collection
# `engram ingest` built is listed, searched and reranked over HTTP, and one created over HTTP is
# where the CLI (and a session turn naming it) looks: <data>/collections/<name>.
import subprocess

from conftest import EngramServer, engram_binary

TRAINS = "The night train from Vienna to Venice leaves at nine and arrives early in the morning.\n"
BREAD = "Sourdough bread rises because wild yeast and lactic acid bacteria ferment the dough.\n"


def cli(data, *args):
    p = subprocess.run([engram_binary(), "--data-dir", str(data), *args], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, f"engram {' '.join(args)} exited {p.returncode}: {p.stderr}"
    return p.stdout


def test_the_local_tenant_shares_the_cli_collections(tmp_path):
    data = tmp_path / "data"
    (tmp_path / "trains.txt").write_text(TRAINS)
    (tmp_path / "bread.txt").write_text(BREAD)
    cli(data, "ingest", "-c", "notes", str(tmp_path / "trains.txt"), str(tmp_path / "bread.txt"))

    server = EngramServer(data, None).start()
    try:
        listed = server.curl("GET", "/v1/collections", key=None)
        assert listed.status == 200, listed
        assert [c["name"] for c in listed.json()["data"]] == ["notes"], listed.text
        query = {"query": "When does the train to Venice leave?", "k": 1}
        found = server.curl("POST", "/v1/collections/notes/search", key=None, json_body=query)
        assert found.status == 200, found
        assert found.json()["results"][0]["source"].endswith("trains.txt"), found.text
        reranked = server.curl("POST", "/v1/collections/notes/search", key=None,
                               json_body={**query, "rerank": 2})
        assert reranked.status == 200, reranked
        hit = reranked.json()["results"][0]
        assert hit["source"].endswith("trains.txt") and hit["rerank_score"] < 0, reranked.text

        created = server.curl("POST", "/v1/collections", key=None, json_body={"name": "web"})
        assert created.status == 200, created
        assert (data / "collections" / "web").is_dir()
        assert not (data / "tenants").exists(), "the local tenant has no directory of its own"
    finally:
        server.stop()
    names = cli(data, "collections").split()
    assert "notes" in names and "web" in names, names


def test_a_keyless_server_names_collections_an_older_one_left_elsewhere(tmp_path):
    data = tmp_path / "data"
    (data / "tenants" / "local" / "collections" / "old").mkdir(parents=True)
    server = EngramServer(data, None).start()
    try:
        warning = [line for line in server.stderr_lines if "warning" in line]
        assert warning and "tenants/local/collections" in warning[0], server.stderr()
        assert str(data / "collections") in warning[0], warning
    finally:
        server.stop()
