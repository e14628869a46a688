#!/usr/bin/env python3
"""Writes tests/data/tokenize/smollm2_bpe.jsonl (+ smollm2_bpe.meta.json): the SmolLM2 byte-level
BPE tokenizer ("gpt2" model, pre-tokenizer "smollm", 49152 tokens) of
$ENGRAM_MODELS_DIR/SmolLM2-135M-Instruct.Q4_1.gguf run on every case of
tests/data/tokenize/corpus.jsonl by two peers:

  llama_cpp  llama-cpp-python (its bundled llama.cpp):
             Llama(model_path, vocab_only=True).tokenize(bytes, add_bos=False, special=parse_special)
             -- the reference the C++ test must match exactly.
  hf         transformers, tokenizer built FROM THE SAME GGUF:
             AutoTokenizer.from_pretrained(models_dir, gguf_file=...) (needs torch installed, only
             for transformers' GGUF reader import); ids = encode(text, add_special_tokens=False),
             and for parse_special=false also split_special_tokens=True, which is HF's way of not
             matching special-token strings (same meaning as llama.cpp's special=false).
             "same" when identical to llama_cpp, the ids when not, null for invalid UTF-8 ("hex")
             cases, which a str-based tokenizer cannot take as they are.
Invalid UTF-8 cases are tokenized by llama.cpp in a forked child: for 4-byte sequences that decode
above U+10FFFF (F4 90.., F5.., F7..) llama.cpp throws std::invalid_argument("invalid codepoint")
out of llama_tokenize and the process aborts; such lines have "llama_cpp": null and
"llama_cpp_error": "<what happened>".

parse_special is true exactly for corpus kind "special" (ChatML and other control-token strings).
One line per corpus case, in corpus order:
  {"id": N, "parse_special": bool, "llama_cpp": "<ids space-separated>" | null, "hf": "same" | "<ids>" | null
   [, "llama_cpp_error": "..."]}
The figures (identical fraction, disagreements) are printed and kept in smollm2_bpe.meta.json.

Usage: .venv-peers/bin/python scripts/goldens/tokenize_bpe.py   (after tokenize_corpus.py)
"""
import copy
import json
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import corpus_text as ct  # noqa: E402

OUT_DIR = ct.REPO / "tests" / "data" / "tokenize"
MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"


def load_llama(path: pathlib.Path):
    import llama_cpp
    saved = os.dup(2)  # llama.cpp prints context warnings even with verbose=False
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        return llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def tokenize_guarded(llm, b: bytes, special: bool):
    """llama.cpp's tokenize in a forked child: some invalid UTF-8 (4-byte sequences above U+10FFFF)
    makes llama.cpp throw std::invalid_argument("invalid codepoint") through its C API, which
    terminates the process. Returns (ids, None) or (None, error text)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        os.environ["GGML_NO_BACKTRACE"] = "1"  # no gdb backtrace on abort
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        try:
            ids = llm.tokenize(b, add_bos=False, special=special)
            os.write(w, json.dumps(list(ids)).encode())
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    while True:
        c = os.read(r, 1 << 16)
        if not c:
            break
        chunks.append(c)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and chunks:
        return json.loads(b"".join(chunks)), None
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    return None, (f"llama.cpp terminated the process (signal {sig}; "
                  f"uncaught std::invalid_argument 'invalid codepoint' in unicode_regex_split)")


def load_hf(models: pathlib.Path):
    import transformers
    from transformers import AutoTokenizer
    transformers.logging.set_verbosity_error()
    tok = AutoTokenizer.from_pretrained(str(models), gguf_file=MODEL)
    return tok


def main():
    models = ct.models_dir()
    llm = load_llama(models / MODEL)
    hf = load_hf(models)
    peers = {
        "llama_cpp": f"llama-cpp-python {ct.pkg_version('llama_cpp_python')} (bundled llama.cpp), "
                     f"Llama(vocab_only=True).tokenize(bytes, add_bos=False, special=parse_special)",
        "hf": f"transformers {ct.pkg_version('transformers')} AutoTokenizer.from_pretrained(gguf_file=...) "
              f"[{type(hf).__name__}], tokenizers {ct.pkg_version('tokenizers')}, torch {ct.pkg_version('torch')}; "
              f"encode(text, add_special_tokens=False[, split_special_tokens=True when parse_special=false])",
    }
    print("peers:")
    for k, v in peers.items():
        print(f"  {k}: {v}")

    # Diagnostic only (not written to the golden): transformers' GGUF converter has no entry for
    # llama.cpp's "smollm" pre-tokenizer and keeps GPT-2's ByteLevel regex; SmolLM2's own
    # tokenizer.json (and llama.cpp's "smollm" regex list, which starts with \p{N}) first split
    # every digit apart. The same tokenizer with Digits(individual_digits=True) in front:
    from tokenizers import pre_tokenizers
    hf_digits = copy.deepcopy(hf.backend_tokenizer)
    hf_digits.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    hf_digits_plain = copy.deepcopy(hf_digits)
    hf_digits_plain.encode_special_tokens = True
    digits_same = 0
    replaced_same = replaced_n = 0

    out = OUT_DIR / "smollm2_bpe.jsonl"
    n = compared = same = nulls = 0
    n_tokens = 0
    diffs = []
    crashes = []
    by_kind = {}
    with out.open("w", encoding="utf-8", newline="\n") as f:
        for case, b in ct.iter_cases():
            special = case["kind"] == "special"
            text, how = ct.as_text(b)
            if how == "utf8":
                ids = llm.tokenize(b, add_bos=False, special=special)
                err = None
            else:  # invalid UTF-8: may crash llama.cpp, so in a child process
                ids, err = tokenize_guarded(llm, b, special)
            line = {"id": case["id"], "parse_special": special, "llama_cpp": None, "hf": None}
            if err:
                line["llama_cpp_error"] = err
                crashes.append(case["id"])
                f.write(json.dumps(line, separators=(",", ":")) + "\n")
                n += 1
                continue
            n_tokens += len(ids)
            line["llama_cpp"] = ct.ids_str(ids)
            k = by_kind.setdefault(case["kind"], [0, 0])
            if how == "utf8":
                if special:
                    h = hf.encode(text, add_special_tokens=False)
                else:
                    h = hf.encode(text, add_special_tokens=False, split_special_tokens=True)
                compared += 1
                k[1] += 1
                hd = (hf_digits if special else hf_digits_plain).encode(text, add_special_tokens=False).ids
                digits_same += list(hd) == list(ids)
                if list(h) == list(ids):
                    same += 1
                    k[0] += 1
                    line["hf"] = "same"
                else:
                    line["hf"] = ct.ids_str(h)
                    diffs.append({"id": case["id"], "kind": case["kind"], "text": text[:80],
                                  "llama_cpp": list(ids)[:40], "hf": list(h)[:40]})
            else:
                nulls += 1
                # diagnostic: is llama.cpp's handling of invalid UTF-8 the same as tokenizing
                # Python's errors="replace" decoding (U+FFFD per maximal invalid subpart)?
                hr = hf.encode(text, add_special_tokens=False, split_special_tokens=not special)
                replaced_n += 1
                replaced_same += list(hr) == list(ids)
            f.write(json.dumps(line, separators=(",", ":")) + "\n")
            n += 1
    frac = same / compared if compared else 0.0
    meta = {
        "generator": "scripts/goldens/tokenize_bpe.py",
        "model": f"{MODEL} (relative to $ENGRAM_MODELS_DIR); tokenizer.ggml.model gpt2, pre smollm",
        "peers": peers,
        "cases": n,
        "llama_cpp_tokens": n_tokens,
        "hf_compared": compared,
        "hf_identical": same,
        "hf_identical_fraction": round(frac, 6),
        "hf_null": nulls,
        "llama_cpp_crashes": crashes,
        "hf_identical_by_kind": {kk: f"{v[0]}/{v[1]}" for kk, v in sorted(by_kind.items())},
        "diagnostic_hf_with_digits_split_identical": f"{digits_same}/{compared}",
        "diagnostic_invalid_utf8_as_python_replace_identical": f"{replaced_same}/{replaced_n}",
        "disagreements": diffs,
    }
    (OUT_DIR / "smollm2_bpe.meta.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes): {n} cases, {n_tokens} llama.cpp tokens")
    print(f"llama.cpp vs HF (transformers from the GGUF): {same}/{compared} identical ({100 * frac:.2f}%), "
          f"{nulls} cases not comparable (invalid UTF-8) -> null")
    print(f"diagnostic: HF with Digits(individual_digits=True) before ByteLevel (as SmolLM2's own "
          f"tokenizer.json): {digits_same}/{compared} identical to llama.cpp")
    print(f"diagnostic: invalid UTF-8 cases where llama.cpp == HF(bytes.decode(errors='replace')): "
          f"{replaced_same}/{replaced_n}")
    print(f"llama.cpp aborted (null, llama_cpp_error) on {len(crashes)} invalid-UTF-8 cases: {crashes}")
    for kk, (s, t) in sorted(by_kind.items()):
        if s != t:
            print(f"  {kk:14s} {s}/{t}")
    for d in diffs:
        print(f"  disagree: id {d['id']} ({d['kind']}) {d['text']!r}\n    llama.cpp {d['llama_cpp']}\n    hf        {d['hf']}")


if __name__ == "__main__":
    main()
