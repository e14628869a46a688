#!/usr/bin/env python3
"""llama.cpp on the GGUF conversion of all-MiniLM-L6-v2 against sentence-transformers' goldens.

Embeds the 500 texts of tests/data/embed/minilm_texts.jsonl with llama-cpp-python (mean pooling,
normalised) from all-MiniLM-L6-v2.{f32,f16}.gguf (scripts/make_bert_gguf.sh f32 f16) and prints
the cosine similarity with tests/data/embed/minilm_st.f16 (scripts/goldens/embed_minilm.py), in
two ways:
  plain     Llama.embed(texts) as a user calls it: llama.cpp tokenizes without parsing special
            tokens and truncates to n_batch (512) tokens, dropping [SEP] past that; nothing at 256.
  cut-256   llama.cpp's token ids (specials parsed) cut as sentence-transformers cuts them: at
            most 256 tokens, [CLS] ... [SEP] kept (its max_seq_length).
  st-ids    sentence-transformers' own token ids (Hugging Face's tokenizer, cut the same way):
            this isolates llama.cpp's arithmetic.
Also counts texts whose llama.cpp token ids (specials parsed, untruncated) differ from Hugging
Face's tokenizer: llama.cpp's WPM drops every combining mark (Hindi vowel signs, category Mc,
too; Hugging Face strips only Mn) and has no 100-character limit on a word (Hugging Face makes
a longer word one [UNK]). Writes nothing. Run with .venv-peers/bin/python.
"""
import json
import os
import pathlib
import sys
import time

import numpy as np
from llama_cpp import Llama, LLAMA_POOLING_TYPE_MEAN, __version__ as llama_cpp_version
from transformers import AutoTokenizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODELS = pathlib.Path(os.environ.get("ENGRAM_MODELS_DIR", pathlib.Path.home() / ".cache/engram/models"))
DATA = ROOT / "tests" / "data" / "embed"
MAX_SEQ = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2


def main():
    texts = [json.loads(l)["text"] for l in (DATA / "minilm_texts.jsonl").read_text(encoding="utf-8").splitlines()]
    gold = np.fromfile(DATA / "minilm_st.f16", dtype="<f2").astype(np.float64).reshape(len(texts), 384)
    gold /= np.linalg.norm(gold, axis=1, keepdims=True)
    hf = AutoTokenizer.from_pretrained(str(MODELS / "all-MiniLM-L6-v2"))
    hf_ids = [hf(t)["input_ids"] for t in texts]
    print(f"llama-cpp-python {llama_cpp_version}; {len(texts)} texts; "
          f"{sum(len(i) > MAX_SEQ for i in hf_ids)} longer than {MAX_SEQ} tokens")

    for kind in ["f32", "f16"]:
        path = MODELS / f"all-MiniLM-L6-v2.{kind}.gguf"
        if not path.exists():
            print(f"{path.name}: missing; run scripts/make_bert_gguf.sh f32 f16")
            continue
        llm = Llama(str(path), embedding=True, n_ctx=512, n_batch=512, n_ubatch=512,
                    pooling_type=LLAMA_POOLING_TYPE_MEAN, n_threads=2, verbose=False)
        ids = [llm.tokenize(t.encode("utf-8"), add_bos=True, special=True) for t in texts]
        differ = [i for i in range(len(texts)) if ids[i] != hf_ids[i]]
        print(f"{path.name}: tokens: {len(differ)} texts differ from Hugging Face's"
              + (f" (first: {differ[:5]})" if differ else ""))

        def report(name, emb, seconds):
            emb = np.asarray(emb, dtype=np.float64)
            emb /= np.linalg.norm(emb, axis=1, keepdims=True)
            cos = np.sum(emb * gold, axis=1)
            worst = ", ".join(f"{cos[i]:.7f} (text {i})" for i in np.argsort(cos)[:3])
            print(f"{path.name}: {name:8s} cosine vs sentence-transformers: mean {cos.mean():.7f}; "
                  f"{np.sum(cos < 0.9999)} below 0.9999; lowest {worst} [{seconds:.1f} s]")

        start = time.time()
        report("plain", llm.embed(texts, normalize=True), time.time() - start)

        # The same call on prepared token ids: Llama.embed tokenizes each text with
        # self.tokenize, so hand it the prepared ids instead.
        def cut(i):
            return i if len(i) <= MAX_SEQ else i[:MAX_SEQ - 1] + [i[-1]]
        for name, source in [("cut-256", ids), ("st-ids", hf_ids)]:
            prepared = {t: cut(i) for t, i in zip(texts, source)}
            llm.tokenize = lambda text, add_bos=True, special=False: prepared[text.decode("utf-8")]
            start = time.time()
            report(name, llm.embed(texts, normalize=True), time.time() - start)
        del llm
    return 0


if __name__ == "__main__":
    sys.exit(main())
