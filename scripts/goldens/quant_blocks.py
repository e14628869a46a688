#!/usr/bin/env python3
"""Writes tests/data/quant/<type>.json for the 11 GGML types f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1
q4_K q5_K q6_K: raw bytes of a few consecutive REAL blocks and their dequantized values.

Peers:
  * blocks: the default model $ENGRAM_MODELS_DIR/SmolLM2-135M-Instruct.Q4_1.gguf read with gguf-py
    (GGUFReader) for F32, Q8_0 (token_embd) and Q4_1; F16 / BF16 converted from real f32 values
    (a dequantized Q8_0 row of token_embd) by ggml's own ggml_fp32_to_fp16_row /
    ggml_fp32_to_bf16_row_ref (libggml-base of llama-cpp-python), checked against numpy (astype
    float16; bf16 = round-to-nearest-even of the top 16 bits); Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K
    from copies of the default model re-quantized BY LLAMA.CPP (llama_cpp.llama_model_quantize,
    allow_requantize=True) into a temporary directory.
  * values: gguf.quants.dequantize (gguf-py), written as the shortest decimal that round-trips the
    float32; cross-checked bit for bit against ggml's dequantize_row_* / *_to_fp32_row.

Each file: {"type", "type_id" (ggml_type), "block_elems", "block_bytes", "source", "peer",
"generator", "n", "raw_hex", "values"}; n = 512 for legacy types (16 blocks of 32), 1024 for
K types (4 blocks of 256), 512 for f32/f16/bf16. Blocks come from the middle of a tensor.

Usage: .venv-peers/bin/python scripts/goldens/quant_blocks.py   (about a minute; writes ~600 MB
under a temporary directory, removed at the end; deterministic)
"""
import ctypes
import json
import os
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import corpus_text as ct  # noqa: E402

import numpy as np  # noqa: E402
import gguf  # noqa: E402
from gguf import GGMLQuantizationType as T  # noqa: E402
import llama_cpp  # noqa: E402

OUT_DIR = ct.REPO / "tests" / "data" / "quant"
MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"

LEGACY_BLOCKS = 16
K_BLOCKS = 4
PLAIN_N = 512

LIB = pathlib.Path(llama_cpp.__file__).parent / "lib"
ggml = ctypes.CDLL(str(LIB / "libggml-base.so"))
F32P = ctypes.POINTER(ctypes.c_float)


def f32_str(v: np.float32) -> str:
    s = str(np.float32(v))  # numpy: shortest repr that round-trips the float32
    assert np.float32(float(s)).tobytes() == np.float32(v).tobytes(), (v, s)
    assert np.isfinite(v)
    return s


def ggml_to_float(qtype: T, raw: np.ndarray, n: int) -> np.ndarray:
    """Dequantize with ggml itself (libggml-base), for the cross-check."""
    out = np.zeros(n, dtype=np.float32)
    src = raw.ctypes.data_as(ctypes.c_void_p)
    dst = out.ctypes.data_as(F32P)
    if qtype == T.F32:
        out[:] = raw.view(np.float32)
    elif qtype == T.F16:
        ggml.ggml_fp16_to_fp32_row(src, dst, ctypes.c_int64(n))
    elif qtype == T.BF16:
        ggml.ggml_bf16_to_fp32_row(src, dst, ctypes.c_int64(n))
    else:
        getattr(ggml, f"dequantize_row_{qtype.name.lower().replace('_k', '_K')}")(src, dst, ctypes.c_int64(n))
    return out


def ggml_from_f32(qtype: T, x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.zeros(x.size * 2, dtype=np.uint8)
    fn = {T.F16: ggml.ggml_fp32_to_fp16_row, T.BF16: ggml.ggml_fp32_to_bf16_row_ref}[qtype]
    fn(x.ctypes.data_as(F32P), out.ctypes.data_as(ctypes.c_void_p), ctypes.c_int64(x.size))
    return out


def numpy_bf16(x: np.ndarray) -> np.ndarray:
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return r.view(np.uint8)


def tensor(reader: gguf.GGUFReader, name: str):
    for t in reader.tensors:
        if t.name == name:
            return t
    raise KeyError(name)


def middle_blocks(t, count: int, block_skip: int = 1):
    """`count` consecutive blocks of tensor `t` starting at block `block_skip` of its middle row."""
    qtype = T(t.tensor_type)
    elems, nbytes = gguf.GGML_QUANT_SIZES[qtype]
    data = np.asarray(t.data)
    rows = data.reshape(data.shape[0], -1) if data.ndim > 1 else data.reshape(1, -1)
    row_bytes = rows.shape[1] * rows.dtype.itemsize
    row_blocks = row_bytes // nbytes
    assert row_bytes % nbytes == 0
    # block byte size check: the tensor's bytes are exactly (elements / block_elems) blocks
    assert int(t.n_elements) % elems == 0 and int(t.n_bytes) == int(t.n_elements) // elems * nbytes, t.name
    assert gguf.quants.quant_shape_to_byte_shape((int(t.n_elements),), qtype) == (int(t.n_bytes),)
    r = rows.shape[0] // 2
    flat = rows.view(np.uint8).reshape(-1)
    start = r * row_bytes + block_skip * nbytes
    if block_skip + count > row_blocks:  # spill into the next row (still consecutive in the tensor)
        assert r + 1 < rows.shape[0]
    raw = np.array(flat[start:start + count * nbytes], dtype=np.uint8)
    where = f"row {r} of {rows.shape[0]} (row = {row_blocks} blocks), blocks {block_skip}..{block_skip + count - 1}"
    return raw, where


def requantize(src: pathlib.Path, dst: pathlib.Path, ftype: int):
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = ftype
    p.allow_requantize = True
    p.nthread = max(1, min(8, os.cpu_count() or 1))
    log = dst.with_suffix(".log")
    saved = os.dup(2)  # llama.cpp logs every tensor to stderr: keep it in a file, summarize
    with open(log, "wb") as f:
        os.dup2(f.fileno(), 2)
        try:
            rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(p))
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    text = log.read_text(errors="replace")
    if rc != 0:
        sys.stderr.write(text[-4000:])
        raise SystemExit(f"llama_model_quantize({ftype}) failed: {rc}")
    return sum(1 for line in text.splitlines() if "falling back" in line)


def write(name: str, qtype: T, raw: np.ndarray, source: str, peer: str):
    elems, nbytes = gguf.GGML_QUANT_SIZES[qtype]
    assert raw.dtype == np.uint8 and raw.size % nbytes == 0, (name, raw.size, nbytes)
    n = raw.size // nbytes * elems
    vals = gguf.quants.dequantize(raw, qtype).reshape(-1).astype(np.float32)
    assert vals.size == n, (name, vals.size, n)
    ref = ggml_to_float(qtype, raw, n)
    same = np.array_equal(vals.view(np.uint32), ref.view(np.uint32))
    if not same:
        bad = int(np.sum(vals.view(np.uint32) != ref.view(np.uint32)))
        raise SystemExit(f"{name}: gguf-py and ggml dequantization differ in {bad}/{n} values")
    doc = {
        "type": name,
        "type_id": int(qtype),
        "block_elems": elems,
        "block_bytes": nbytes,
        "source": source,
        "peer": peer,
        "generator": "scripts/goldens/quant_blocks.py",
        "n": n,
        "raw_hex": raw.tobytes().hex(),
    }
    text = json.dumps(doc, indent=1)[:-2]  # values on one line, written by hand (float32 repr)
    text += ',\n "values": [' + ", ".join(f32_str(v) for v in vals) + "]\n}\n"
    json.loads(text)
    out = OUT_DIR / f"{name}.json"
    out.write_text(text)
    size = out.stat().st_size
    assert size < 40_000, (out, size)
    print(f"  {name:5s} type_id {int(qtype):2d}: n={n:4d} ({raw.size // nbytes} blocks x {nbytes} B), "
          f"{size:6d} B file, |v|max {np.abs(vals).max():.4g}, gguf-py == ggml: {same}; {source}")


def main():
    model = ct.models_dir() / MODEL
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    versions = (f"gguf-py {ct.pkg_version('gguf')}, llama-cpp-python {ct.pkg_version('llama_cpp_python')} "
                f"(its bundled llama.cpp/ggml), numpy {np.__version__}")
    print(f"peers: {versions}")
    reader = gguf.GGUFReader(str(model))

    # --- straight from the default model
    t = tensor(reader, "blk.15.ffn_norm.weight")
    data = np.asarray(t.data, dtype=np.float32)
    off = (data.size - PLAIN_N) // 2
    raw = np.frombuffer(data[off:off + PLAIN_N].tobytes(), dtype=np.uint8).copy()
    write("f32", T.F32, raw, f"{MODEL} blk.15.ffn_norm.weight (F32, {data.size} elems), elements {off}..{off + PLAIN_N - 1}",
          f"gguf-py {ct.pkg_version('gguf')} GGUFReader")

    t = tensor(reader, "token_embd.weight")
    assert T(t.tensor_type) == T.Q8_0
    raw, where = middle_blocks(t, LEGACY_BLOCKS)
    write("q8_0", T.Q8_0, raw, f"{MODEL} token_embd.weight (Q8_0), {where}", f"gguf-py {ct.pkg_version('gguf')} GGUFReader")

    # f16 / bf16 from real f32 values: a dequantized Q8_0 row of token_embd (token id 12345)
    emb = np.asarray(t.data)
    tok_id = 12345
    row = gguf.quants.dequantize(np.array(emb[tok_id], dtype=np.uint8), T.Q8_0).reshape(-1).astype(np.float32)
    x = row[(row.size - PLAIN_N) // 2:][:PLAIN_N]
    lo = (row.size - PLAIN_N) // 2
    h16 = ggml_from_f32(T.F16, x)
    assert np.array_equal(h16, np.frombuffer(x.astype(np.float16).tobytes(), dtype=np.uint8)), "f16: ggml != numpy"
    write("f16", T.F16, h16,
          f"{MODEL} token_embd.weight row {tok_id} (Q8_0, dequantized by gguf-py), elements {lo}..{lo + PLAIN_N - 1}, "
          f"converted f32->f16 by ggml_fp32_to_fp16_row (== numpy astype(float16), round-to-nearest-even)",
          "llama-cpp-python libggml-base ggml_fp32_to_fp16_row; numpy check")
    b16 = ggml_from_f32(T.BF16, x)
    assert np.array_equal(b16, numpy_bf16(x)), "bf16: ggml != numpy RNE"
    assert np.array_equal(b16, np.asarray(gguf.quants.quantize(x, T.BF16)).view(np.uint8).reshape(-1)), "bf16: gguf-py"
    write("bf16", T.BF16, b16,
          f"{MODEL} token_embd.weight row {tok_id} (Q8_0, dequantized by gguf-py), elements {lo}..{lo + PLAIN_N - 1}, "
          f"converted f32->bf16 by ggml_fp32_to_bf16_row_ref (round-to-nearest-even; == numpy and gguf-py)",
          "llama-cpp-python libggml-base ggml_fp32_to_bf16_row_ref; numpy and gguf-py check")

    t = tensor(reader, "blk.15.ffn_down.weight")
    assert T(t.tensor_type) == T.Q4_1
    raw, where = middle_blocks(t, LEGACY_BLOCKS, block_skip=20)
    write("q4_1", T.Q4_1, raw, f"{MODEL} blk.15.ffn_down.weight (Q4_1, rows of 1536), {where}",
          f"gguf-py {ct.pkg_version('gguf')} GGUFReader")

    # --- re-quantized by llama.cpp
    jobs = [  # (name, qtype, ftype, tensor)
        ("q4_0", T.Q4_0, llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0, "blk.15.ffn_down.weight"),
        ("q5_0", T.Q5_0, llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_0, "blk.15.ffn_down.weight"),
        ("q5_1", T.Q5_1, llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_1, "blk.15.ffn_down.weight"),
        ("q4_K", T.Q4_K, llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M, None),
        ("q5_K", T.Q5_K, llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_K_M, None),
        ("q6_K", T.Q6_K, llama_cpp.LLAMA_FTYPE_MOSTLY_Q6_K, "blk.15.ffn_down.weight"),
    ]
    ftype_names = {v: k for k, v in vars(llama_cpp).items() if k.startswith("LLAMA_FTYPE_MOSTLY_")}
    with tempfile.TemporaryDirectory(prefix="engram-quant-") as tmp:
        for name, qtype, ftype, tname in jobs:
            dst = pathlib.Path(tmp) / f"smollm2-{name}.gguf"
            fallbacks = requantize(model, dst, ftype)
            r = gguf.GGUFReader(str(dst))
            mix = {}
            for tt in r.tensors:
                mix[T(tt.tensor_type).name] = mix.get(T(tt.tensor_type).name, 0) + 1
            print(f"  llama.cpp {ftype_names[ftype]}: tensor types {dict(sorted(mix.items()))}, "
                  f"{fallbacks} fallbacks (row length 576 not a multiple of 256)")
            if tname is None:  # K_M mixes: take the middle-most ffn_down that llama.cpp made `qtype`
                cands = [tt.name for tt in r.tensors
                         if tt.name.endswith("ffn_down.weight") and T(tt.tensor_type) == qtype]
                cands.sort(key=lambda s: (abs(int(s.split(".")[1]) - 15), s))
                tname = cands[0]
            tt = tensor(r, tname)
            got = T(tt.tensor_type)
            if got != qtype:
                raise SystemExit(f"{name}: llama.cpp made {tname} {got.name}, not {qtype.name}")
            count = K_BLOCKS if gguf.GGML_QUANT_SIZES[qtype][0] == 256 else LEGACY_BLOCKS
            raw, where = middle_blocks(tt, count, block_skip=1 if count == K_BLOCKS else 20)
            write(name, qtype, raw,
                  f"{MODEL} re-quantized by llama.cpp (llama_model_quantize, {ftype_names[ftype]}, "
                  f"allow_requantize) -> {tname} ({got.name}, rows of {tt.shape[0]}), {where}",
                  f"llama-cpp-python {ct.pkg_version('llama_cpp_python')} llama_model_quantize; gguf-py GGUFReader")
            del r, tt
    total = sum(p.stat().st_size for p in OUT_DIR.glob("*.json"))
    print(f"wrote {len(list(OUT_DIR.glob('*.json')))} files under {OUT_DIR}, {total} bytes")


if __name__ == "__main__":
    main()
