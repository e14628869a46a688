#!/usr/bin/env python3
"""Tokenizer throughput of the peers, measured like `engram bench tokenize` (same files, one
paragraph = one non-empty line, one thread, median of N passes). Prints one JSON object.

  --model X.gguf : llama.cpp (llama-cpp-python, vocab_only) and HF `tokenizers` built from the
                   GGUF's vocabulary and merges (byte-level BPE; SmolLM2's own pre-tokenizer:
                   single digits, then GPT-2's ByteLevel regex)
  --model DIR    : HF `tokenizers` from DIR/tokenizer.json (BERT WordPiece)
Run by bench/peer_tokenize.sh.
"""
import argparse
import json
import os
import pathlib
import statistics
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def paragraphs(files):
    out = []
    for f in files:
        for line in pathlib.Path(f).read_bytes().split(b"\n"):
            if line:
                out.append(line)
    return out


def timed(fn, reps):
    times = []
    result = None
    for _ in range(reps):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def bench(name, encode, decode, paras, texts, reps):
    nbytes = sum(len(p) for p in paras)
    enc_s, ids = timed(lambda: [encode(p, t) for p, t in zip(paras, texts)], reps)
    dec_s, out = timed(lambda: [decode(i) for i in ids], reps)
    tokens = sum(len(i) for i in ids)
    return {"peer": name, "tokens": tokens, "encode_s_median": enc_s,
            "encode_mb_per_s": nbytes / 1e6 / enc_s, "encode_tokens_per_s": tokens / enc_s,
            "decode_s_median": dec_s,
            "decode_mb_per_s": sum(len(o.encode() if isinstance(o, str) else o) for o in out) / 1e6 / dec_s}


def hf_from_gguf(path):
    import gguf
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    r = gguf.GGUFReader(path)
    tokens = r.fields["tokenizer.ggml.tokens"].contents()
    merges = [tuple(m.split(" ", 1)) for m in r.fields["tokenizer.ggml.merges"].contents()]
    tok = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    return tok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    paras = paragraphs(a.files)
    texts = [p.decode("utf-8", "replace") for p in paras]
    results = []
    if a.model.endswith(".gguf"):
        import llama_cpp
        llm = llama_cpp.Llama(model_path=a.model, vocab_only=True, verbose=False)
        r = bench(f"llama.cpp (llama-cpp-python {llama_cpp.__version__})",
                  lambda p, t: llm.tokenize(p, add_bos=False, special=False),
                  llm.detokenize, paras, texts, a.repetitions)
        # The Python binding costs a fixed amount per call (buffers, ctypes); measure it on a
        # 1-byte input and also report the throughput with it taken out, to be fair to llama.cpp.
        overhead_s, _ = timed(lambda: [llm.tokenize(b"a", add_bos=False, special=False)
                                       for _ in paras], a.repetitions)
        r["binding_overhead_s"] = overhead_s
        r["encode_mb_per_s_without_binding"] = (
            sum(len(p) for p in paras) / 1e6 / max(r["encode_s_median"] - overhead_s, 1e-9))
        results.append(r)
        hf = hf_from_gguf(a.model)
    else:
        from tokenizers import Tokenizer
        hf = Tokenizer.from_file(str(pathlib.Path(a.model) / "tokenizer.json"))
        hf.no_truncation()
        hf.no_padding()
    import tokenizers
    results.append(bench(f"HF tokenizers {tokenizers.__version__}",
                         lambda p, t: hf.encode(t, add_special_tokens=False).ids,
                         lambda ids: hf.decode(ids, skip_special_tokens=False), paras, texts,
                         a.repetitions))
    print(json.dumps({"paragraphs": len(paras), "bytes": sum(len(p) for p in paras),
                      "results": results}))


if __name__ == "__main__":
    main()
