#!/usr/bin/env python3
"""Writes tests/data/tokenize/gemma3_spm.jsonl (+ gemma3_spm.meta.json): the Gemma 3 SentencePiece
tokenizer (tokenizer.ggml.model "llama", pre "default", 262144 tokens, add_space_prefix false,
byte fallback, many user-defined tokens such as whitespace runs and HTML tags) of
$ENGRAM_MODELS_DIR/gemma-3-270m-q4_k_m.gguf run by llama.cpp on every case of
tests/data/tokenize/corpus.jsonl:

  llama_cpp  llama-cpp-python (its bundled llama.cpp):
             Llama(model_path, vocab_only=True).tokenize(bytes, add_bos=False, special=parse_special)
             -- the reference the C++ test must match exactly. Invalid UTF-8 is given as bytes
             (llama.cpp's SentencePiece path splits by UTF-8 lead-byte length and falls back to
             byte tokens; it is tokenized in a forked child anyway, as tokenize_bpe.py does, in
             case llama.cpp aborts).

parse_special is true exactly for corpus kind "special". Three more cases pin Gemma's own control
tokens with parse_special true (they are not in the corpus, whose special cases are ChatML):
they are listed in the meta file under "extra_special" with their ids.

One line per corpus case, in corpus order (kept small: no text, ids only):
  {"id": N, "llama_cpp": "<ids space-separated>" | null [, "llama_cpp_error": "..."]}

Usage: .venv-peers/bin/python scripts/goldens/tokenize_gemma3.py   (scripts/goldens/setup_peers.sh)
       (any venv with llama-cpp-python 0.3.36; ENGRAM_SHARED_DATA must point at the shared data)
"""
import hashlib
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import corpus_text as ct  # noqa: E402
from tokenize_bpe import load_llama, tokenize_guarded  # noqa: E402

OUT_DIR = ct.REPO / "tests" / "data" / "tokenize"
MODEL = "gemma-3-270m-q4_k_m.gguf"
MODEL_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
EXTRA_SPECIAL = [
    "<start_of_turn>user\n",
    "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
    "<start_of_turn>model\nHello!<end_of_turn><eos>",
]


def sha256_file(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    path = ct.models_dir() / MODEL
    digest = sha256_file(path)
    if digest != MODEL_SHA256:
        raise SystemExit(f"{path}: sha256 {digest}, expected {MODEL_SHA256}")
    llm = load_llama(path)
    peer = (f"llama-cpp-python {ct.pkg_version('llama_cpp_python')} (bundled llama.cpp), "
            f"Llama(vocab_only=True).tokenize(bytes, add_bos=False, special=parse_special)")
    print(f"peer: {peer}")
    out = OUT_DIR / "gemma3_spm.jsonl"
    n = n_tokens = 0
    crashes = []
    with out.open("w", encoding="utf-8", newline="\n") as f:
        for case, b in ct.iter_cases():
            special = case["kind"] == "special"
            _, how = ct.as_text(b)
            if how == "utf8":
                ids, err = llm.tokenize(b, add_bos=False, special=special), None
            else:
                ids, err = tokenize_guarded(llm, b, special)
            line = {"id": case["id"], "llama_cpp": None}
            if err:
                line["llama_cpp_error"] = err
                crashes.append(case["id"])
            else:
                line["llama_cpp"] = ct.ids_str(ids)
                n_tokens += len(ids)
            f.write(json.dumps(line, separators=(",", ":")) + "\n")
            n += 1
    extra = [{"text": t, "llama_cpp": ct.ids_str(llm.tokenize(t.encode(), add_bos=False, special=True))}
             for t in EXTRA_SPECIAL]
    meta = {
        "generator": "scripts/goldens/tokenize_gemma3.py",
        "model": f"{MODEL} (relative to $ENGRAM_MODELS_DIR); tokenizer.ggml.model llama, pre default",
        "model_sha256": MODEL_SHA256,
        "peer": peer,
        "parse_special": "true exactly for corpus kind 'special'",
        "cases": n,
        "llama_cpp_tokens": n_tokens,
        "llama_cpp_crashes": crashes,
        "extra_special": extra,
    }
    (OUT_DIR / "gemma3_spm.meta.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes): {n} cases, {n_tokens} llama.cpp tokens; "
          f"llama.cpp aborted on {len(crashes)} cases: {crashes}")
    for e in extra:
        print(f"  special {e['text']!r}: {e['llama_cpp']}")


if __name__ == "__main__":
    main()
