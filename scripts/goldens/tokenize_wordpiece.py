#!/usr/bin/env python3
"""Writes tests/data/tokenize/minilm_wordpiece.jsonl (+ minilm_wordpiece.meta.json): the
all-MiniLM-L6-v2 BERT WordPiece tokenizer run by HF `tokenizers` (the peer) on every case of
tests/data/tokenize/corpus.jsonl.

Tokenizer: tokenizers.Tokenizer.from_file($ENGRAM_MODELS_DIR/all-MiniLM-L6-v2/tokenizer.json) with
no_truncation() and no_padding() (the file itself asks for truncation and padding to 128).
One line per corpus case, in corpus order:
  {"id": N, "hf": "<ids space-separated>"}   = encode(text, add_special_tokens=True).ids
      (so [CLS]=101 ... [SEP]=102 around the text)
  plus "input": "replaced" for invalid UTF-8 ("hex") cases, whose bytes were decoded with
      errors="replace" (Python's rule: each maximal invalid subpart -> U+FFFD) first.
Cross-check (printed, not written): transformers' slow pure-Python BERT tokenizer
(BertTokenizerLegacy in transformers 5; vocab.txt, do_lower_case=True) against the fast one.

Usage: .venv-peers/bin/python scripts/goldens/tokenize_wordpiece.py   (after tokenize_corpus.py)
"""
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import corpus_text as ct  # noqa: E402

import tokenizers  # noqa: E402

OUT_DIR = ct.REPO / "tests" / "data" / "tokenize"


def slow_tokenizer(model_dir: pathlib.Path):
    import transformers
    try:  # transformers >= 5: the pure-Python WordPiece tokenizer
        from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy as Slow
    except ImportError:  # transformers 4: BertTokenizer is the slow one
        from transformers import BertTokenizer as Slow
    tok = Slow(vocab_file=str(model_dir / "vocab.txt"), do_lower_case=True)
    tok.model_max_length = 10**9  # no length warnings; the slow tokenizer does not truncate anyway
    return tok, f"transformers {transformers.__version__} {Slow.__name__}"


def main():
    model_dir = ct.models_dir() / "all-MiniLM-L6-v2"
    tok = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    slow, slow_name = slow_tokenizer(model_dir)

    out = OUT_DIR / "minilm_wordpiece.jsonl"
    n = same = unk = 0
    diffs = []
    by_kind = {}
    with out.open("w", encoding="utf-8", newline="\n") as f:
        for case, b in ct.iter_cases():
            text, how = ct.as_text(b)
            ids = tok.encode(text, add_special_tokens=True).ids
            line = {"id": case["id"], "hf": ct.ids_str(ids)}
            if how == "replaced":
                line["input"] = "replaced"
            f.write(json.dumps(line, separators=(",", ":")) + "\n")
            n += 1
            unk += ids.count(100)
            slow_ids = slow.encode(text, add_special_tokens=True)
            k = by_kind.setdefault(case["kind"], [0, 0])
            k[1] += 1
            if slow_ids == ids:
                same += 1
                k[0] += 1
            else:
                diffs.append((case["id"], case["kind"], text, ids, slow_ids))
    meta = {
        "peer": f"tokenizers {tokenizers.__version__} (Tokenizer.from_file, no_truncation, no_padding)",
        "generator": "scripts/goldens/tokenize_wordpiece.py",
        "model": "all-MiniLM-L6-v2/tokenizer.json (relative to $ENGRAM_MODELS_DIR)",
        "encode": "encode(text, add_special_tokens=True).ids; invalid UTF-8 decoded with errors='replace' first",
        "cases": n,
        "cross_check": {"slow": slow_name, "identical": same, "cases": n},
    }
    (OUT_DIR / "minilm_wordpiece.meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes): {n} cases, {unk} [UNK] ids in all")
    print(f"slow ({slow_name}) vs fast (tokenizers {tokenizers.__version__}): "
          f"{same}/{n} identical ({100.0 * same / n:.2f}%)")
    for kind, (s, t) in sorted(by_kind.items()):
        if s != t:
            print(f"  {kind:14s} {s}/{t}")
    for cid, kind, text, a, b in diffs[:40]:
        print(f"  differs: id {cid} ({kind}) {text[:60]!r}\n    fast {a[:24]}\n    slow {b[:24]}")


if __name__ == "__main__":
    main()
