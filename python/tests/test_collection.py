"""engram.Collection: ingest, search, files, replace, delete."""

from __future__ import annotations

import pytest

import engram

PORTO = ("Porto is a coastal city in northwest Portugal, known for its bridges and port wine "
         "production. The Douro river runs through the city.")
SPACE = ("The James Webb Space Telescope observes in the infrared. Its mirror is made of "
         "eighteen hexagonal segments of gold-coated beryllium.")


def test_ingest_and_search(tmp_path):
    with engram.Collection(tmp_path / "c") as c:
        a = c.ingest(PORTO, source="porto.txt", title="Porto", tags=["travel"])
        b = c.ingest(SPACE, source="jwst.txt")
        assert a["outcome"] == "added" and a["chunks"] >= 1 and a["source"] == "porto.txt"
        assert c.ingest(PORTO, source="porto.txt", title="Porto", tags=["travel"])["outcome"] == "unchanged"
        for mode in ("hybrid", "bm25", "dense"):
            hits = c.search("which river flows through Porto?", k=2, mode=mode)
            assert hits[0]["document_id"] == a["id"], mode
        hit = c.search("what is the telescope mirror made of?", k=1)[0]
        assert hit["document_id"] == b["id"] and hit["source"] == "jwst.txt"
        assert hit["citation"] == f"{b['id']}:{hit['begin']}-{hit['end']}"
        assert c.text(b["id"])[hit["begin"]:hit["end"]].strip() == hit["text"].strip()
        keys = {"chunk_id", "document_id", "score", "text", "title", "source", "begin", "end",
                "sentence_begin", "sentence_end", "citation"}
        assert keys <= set(hit)
        # The hit's sentence nearest the query, within its chunk.
        assert hit["begin"] <= hit["sentence_begin"] < hit["sentence_end"] <= hit["end"]
        assert "mirror" in c.text(b["id"])[hit["sentence_begin"]:hit["sentence_end"]]
        assert [h["source"] for h in c.search("city", tags=["travel"])] == ["porto.txt"]
        assert c.stats()["documents"] == 2
        assert c.stats()["index_title"] is True
        assert c.stats()["stemming"] == "english"
        assert c.stats()["sentence_vectors"] is True
        assert c.get(a["id"])["title"] == "Porto" and c.get(999) is None
        replaced = c.ingest(PORTO + " It rains a lot in winter.", source="porto.txt")
        assert replaced["outcome"] == "replaced"
        c.delete(b["id"])
        with pytest.raises(engram.NotFound):
            c.delete(b["id"])
        assert [d["source"] for d in c.list()] == ["porto.txt"]
    assert c.closed
    with pytest.raises(engram.Error, match="closed"):
        c.search("x")
    with engram.Collection(tmp_path / "c", create=False) as again:
        assert again.search("Douro", k=1)[0]["source"] == "porto.txt"


def test_ingest_file_uses_the_document_parser(tmp_path):
    doc = tmp_path / "notes.md"
    doc.write_text("# Travel notes\n\n" + PORTO + "\n")
    with engram.Collection(tmp_path / "c") as c:
        r = c.ingest_file(doc)
        assert r["source"] == str(doc.resolve())
        info = c.get(r["id"])
        assert info["title"] == "Travel notes" and info["format"] == "md"
        assert c.search("Douro river", k=1)[0]["title"] == "Travel notes"
        with pytest.raises(engram.NotFound):
            c.ingest_file(tmp_path / "missing.txt")
        (tmp_path / "data.xyz").write_text("x")
        with pytest.raises(engram.InvalidArgument):
            c.ingest_file(tmp_path / "data.xyz")


def test_collection_bad_input(tmp_path):
    with pytest.raises(engram.NotFound):
        engram.Collection(tmp_path / "missing", create=False)
    with engram.Collection(tmp_path / "c") as c:
        with pytest.raises(engram.InvalidArgument, match="mode"):
            c.search("x", mode="fuzzy")
        with pytest.raises(engram.InvalidArgument):
            c.search("   ")
        with pytest.raises(TypeError):
            c.ingest(b"bytes")
        with pytest.raises(engram.InvalidArgument, match="surrogate"):
            c.ingest("bad \udcff text")
        with pytest.raises(TypeError, match="tags"):
            c.ingest("x", tags="not-a-list")
        assert c.list() == []
