#!/usr/bin/env python3
"""Writes tests/data/tokenize/bpe_pre_<name>.jsonl for the byte-level BPE pre-tokenizers the
default model does not use (gpt-2, llama-bpe = Llama 3, qwen2): the SmolLM2 vocabulary and merges
copied into a vocab-only GGUF (gguf-py GGUFWriter) whose tokenizer.ggml.pre names the other
pre-tokenizer, tokenized by llama.cpp (llama-cpp-python, vocab_only=True, add_bos=False,
special=False) on every 3rd case of tests/data/tokenize/corpus.jsonl that is valid UTF-8.

This checks engram's regex splitters and per-name vocabulary flags (ignore_merges for
llama-bpe) end to end against llama.cpp. The C++ test builds the same GGUF in memory from the
default model's arrays.

One line per chosen case: {"id": N, "llama_cpp": "<ids space-separated>"}.

Usage: .venv-peers/bin/python scripts/goldens/tokenize_bpe_pre.py   (after tokenize_corpus.py)
"""
import json
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import corpus_text as ct  # noqa: E402
from tokenize_bpe import load_llama, MODEL  # noqa: E402

import gguf  # noqa: E402

OUT_DIR = ct.REPO / "tests" / "data" / "tokenize"
PRE_TOKENIZERS = ["gpt-2", "llama-bpe", "qwen2"]
STRIDE = 3


def write_vocab_gguf(source: pathlib.Path, pre: str, path: pathlib.Path):
    reader = gguf.GGUFReader(str(source))
    field = lambda k: reader.fields[k].contents()  # noqa: E731
    w = gguf.GGUFWriter(str(path), "llama")
    # llama.cpp reads the architecture's hyperparameters even for a vocab-only load.
    for key, f in reader.fields.items():
        if key.startswith("llama."):
            sub = f.types[1] if len(f.types) > 1 else None
            w.add_key_value(key, f.contents(), f.types[0], sub_type=sub)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(field("tokenizer.ggml.tokens"))
    w.add_token_types(field("tokenizer.ggml.token_type"))
    w.add_token_merges(field("tokenizer.ggml.merges"))
    w.add_bos_token_id(field("tokenizer.ggml.bos_token_id"))
    w.add_eos_token_id(field("tokenizer.ggml.eos_token_id"))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    source = ct.models_dir() / MODEL
    cases = [(c, b) for c, b in ct.iter_cases() if c["id"] % STRIDE == 0 and ct.as_text(b)[1] == "utf8"]
    with tempfile.TemporaryDirectory() as tmp:
        for pre in PRE_TOKENIZERS:
            path = pathlib.Path(tmp) / f"vocab-{pre}.gguf"
            write_vocab_gguf(source, pre, path)
            llm = load_llama(path)
            out = OUT_DIR / f"bpe_pre_{pre}.jsonl"
            tokens = 0
            with out.open("w", encoding="utf-8", newline="\n") as f:
                for case, b in cases:
                    ids = llm.tokenize(b, add_bos=False, special=False)
                    tokens += len(ids)
                    f.write(json.dumps({"id": case["id"], "llama_cpp": ct.ids_str(ids)},
                                       separators=(",", ":")) + "\n")
            print(f"{out.relative_to(ct.REPO)}: {len(cases)} cases, {tokens} tokens, "
                  f"{out.stat().st_size} bytes (llama-cpp-python {ct.pkg_version('llama_cpp_python')})")
            del llm


if __name__ == "__main__":
    main()
