#!/usr/bin/env python3
"""Tiny random GGUF models and llama.cpp's logits on them, for the architectures and rope
variants the default model does not exercise (tests/inference/tiny_model_golden_test.cc):

  tiny_qwen2.gguf          qwen2: q/k/v biases, neox rope, untied output, GQA
  tiny_llama_linear.gguf   llama: linear rope scaling (factor 4), tied output
  tiny_llama3_freqs.gguf   llama: llama3-style per-frequency factors (rope_freqs.weight)

F32 weights (no quantization, so logits compare to ~1e-4), a 260-token byte-level vocabulary,
2 layers, 64-dim embeddings, head size 32 (the block attention kernel's shape). Writes the models
to tests/data/models/ (about 200 KB each) and llama.cpp's logits for 24 fixed token ids to
tests/data/logits/tiny_models.json. Run with .venv-peers/bin/python.
"""
import json
import pathlib

import numpy as np
from gguf import GGUFWriter, RopeScalingType
from llama_cpp import Llama, __version__ as llama_cpp_version

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODELS = ROOT / "tests" / "data" / "models"
OUT = ROOT / "tests" / "data" / "logits" / "tiny_models.json"
N_VOCAB, N_EMBD, N_HEAD, N_KV, N_FF, N_LAYER = 260, 64, 2, 1, 96, 2
TOKENS = [int(t) for t in np.random.default_rng(1).integers(3, N_VOCAB, 24)]


def byte_vocab(writer):
    # GPT-2 style byte-level tokens: the 256 byte symbols, then a few specials.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    symbols = [chr(c) for _, c in sorted(zip(bs, cs))]
    tokens = symbols + ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types([1] * 256 + [3] * 4)
    writer.add_token_merges(["Ġ t"])
    writer.add_bos_token_id(256)
    writer.add_eos_token_id(258)


def make(name, arch, rng, rope_scaling=None, freq_factors=False, tied=True, biases=False):
    path = MODELS / name
    w = GGUFWriter(str(path), arch)
    w.add_context_length(256)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_KV)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(N_EMBD // N_HEAD)
    w.add_file_type(0)
    if rope_scaling:
        w.add_rope_scaling_type(RopeScalingType(rope_scaling[0]))
        w.add_rope_scaling_factor(rope_scaling[1])
    byte_vocab(w)
    hd = N_EMBD // N_HEAD

    def t(tname, *shape, scale=None):
        scale = scale if scale is not None else 1.0 / np.sqrt(shape[-1])
        w.add_tensor(tname, (rng.standard_normal(shape) * scale).astype(np.float32))

    t("token_embd.weight", N_VOCAB, N_EMBD, scale=1.0)
    w.add_tensor("output_norm.weight", (1 + 0.1 * rng.standard_normal(N_EMBD)).astype(np.float32))
    if not tied:
        t("output.weight", N_VOCAB, N_EMBD)
    if freq_factors:
        w.add_tensor("rope_freqs.weight", np.linspace(1.0, 8.0, hd // 2).astype(np.float32))
    for i in range(N_LAYER):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", (1 + 0.1 * rng.standard_normal(N_EMBD)).astype(np.float32))
        t(p + "attn_q.weight", N_HEAD * hd, N_EMBD)
        t(p + "attn_k.weight", N_KV * hd, N_EMBD)
        t(p + "attn_v.weight", N_KV * hd, N_EMBD)
        if biases:
            t(p + "attn_q.bias", N_HEAD * hd, scale=0.5)
            t(p + "attn_k.bias", N_KV * hd, scale=0.5)
            t(p + "attn_v.bias", N_KV * hd, scale=0.5)
        t(p + "attn_output.weight", N_EMBD, N_HEAD * hd)
        w.add_tensor(p + "ffn_norm.weight", (1 + 0.1 * rng.standard_normal(N_EMBD)).astype(np.float32))
        t(p + "ffn_gate.weight", N_FF, N_EMBD)
        t(p + "ffn_up.weight", N_FF, N_EMBD)
        t(p + "ffn_down.weight", N_EMBD, N_FF)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def logits(path):
    llm = Llama(str(path), n_ctx=64, n_threads=2, n_batch=64, logits_all=True, verbose=False)
    llm.eval(TOKENS)
    return np.array(llm.scores[:len(TOKENS)], dtype=np.float32)


def main():
    MODELS.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2026)
    specs = [("tiny_qwen2.gguf", "qwen2", dict(tied=False, biases=True)),
             ("tiny_llama_linear.gguf", "llama", dict(rope_scaling=("linear", 4.0))),
             ("tiny_llama3_freqs.gguf", "llama", dict(freq_factors=True))]
    out = {"peer": f"llama-cpp-python {llama_cpp_version}", "tokens": TOKENS, "models": {}}
    for name, arch, kw in specs:
        path = make(name, arch, rng, **kw)
        rows = logits(path)
        out["models"][name] = [[round(float(x), 5) for x in row] for row in rows]
        print(f"{name}: {path.stat().st_size} bytes, logits range {rows.min():.2f}..{rows.max():.2f}")
    OUT.write_text(json.dumps(out, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
