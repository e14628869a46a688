#!/usr/bin/env python3
"""Writes the seed corpus for the GGUF fuzz target (tests/fuzz/corpus/gguf/) with gguf-py's
GGUFWriter, the reference writer: tiny files with a gpt2 (BPE), a llama (SentencePiece) and a
bert (WordPiece) vocabulary and tensors of several types. Deterministic.

    .venv-peers/bin/python scripts/fuzz/make_gguf_seeds.py
"""
import os
import pathlib
import tempfile

import numpy as np
import gguf

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fuzz" / "corpus" / "gguf"


def write(name, arch, fill):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "seed.gguf")
        w = gguf.GGUFWriter(path, arch)
        fill(w)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        data = pathlib.Path(path).read_bytes()
    (OUT / name).write_bytes(data)
    print(f"{name}: {len(data)} bytes")


def tensors(w):
    rng = np.random.default_rng(0)
    w.add_tensor("w.f32", rng.standard_normal((2, 8), dtype=np.float32))
    w.add_tensor("w.f16", rng.standard_normal((2, 8)).astype(np.float16))
    q = gguf.quants.quantize(rng.standard_normal((1, 32), dtype=np.float32),
                             gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("w.q8_0", q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)


def bpe(w):
    w.add_block_count(1)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    toks = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "H", "e", "l", "o", "Ġ", "w", "r",
            "d", "1", "2", "3", "He", "ll", "llo", "Hello", "Ġw", "Ġwor", "ld"]
    w.add_token_list(toks)
    w.add_token_types([3, 3, 3] + [1] * (len(toks) - 3))
    w.add_token_merges(["H e", "l l", "ll o", "He llo", "Ġ w", "Ġw o", "r l", "l d"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_chat_template("{{ '<|im_start|>' }}")
    tensors(w)


def spm(w):
    w.add_tokenizer_model("llama")
    toks = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + \
           ["\u2581", "\u2581H", "ello", "\u2581Hello", "\u2581world", "w", "o", "r", "l", "d"]
    w.add_token_list(toks)
    w.add_token_scores([0.0] * 259 + [-1.0, -2.0, -3.0, -1.5, -1.2, -5.0, -5.0, -5.0, -5.0, -5.0])
    w.add_token_types([2, 3, 3] + [6] * 256 + [1] * 10)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_space_prefix(True)


def bert(w):
    w.add_tokenizer_model("bert")
    w.add_token_list(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "\u2581hello", "\u2581world",
                      "\u2581,", "ing", "\u2581東"])
    w.add_token_types([3, 2, 3, 3, 3, 1, 1, 1, 1, 1])


OUT.mkdir(parents=True, exist_ok=True)
write("seed-bpe.bin", "llama", bpe)
write("seed-spm.bin", "llama", spm)
write("seed-bert.bin", "bert", bert)
write("seed-tensors-only.bin", "llama", tensors)
