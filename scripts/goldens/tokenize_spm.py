#!/usr/bin/env python3
"""Writes tests/data/tokenize/llama2_spm.jsonl and llama2_spm_info.json: the Llama 2 SentencePiece
model ($ENGRAM_SHARED_DATA/tokenizers/llama2-tokenizer.model) run by the `sentencepiece` Python
package (the peer) on every case of tests/data/tokenize/corpus.jsonl.

One line per corpus case, in corpus order:
  {"id": N, "spm": "<ids space-separated>"}                       valid UTF-8 text
  {"id": N, "spm": "<ids>", "input": "replaced"}                  invalid UTF-8 ("hex" cases): the
      bytes were decoded with errors="replace" (each invalid sequence -> U+FFFD, Python's rule)
      and that string was encoded.
ids = sp.encode(text) -- no BOS/EOS (the model's own add_dummy_prefix etc. apply).
llama2_spm_info.json holds the normalizer spec, model type, byte_fallback, vocab size and the
special ids read from the ModelProto (sentencepiece_model_pb2 shipped in the package), and the
peer's version.

Usage: .venv-peers/bin/python scripts/goldens/tokenize_spm.py   (after tokenize_corpus.py)
"""
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import corpus_text as ct  # noqa: E402

import sentencepiece as spm  # noqa: E402

OUT_DIR = ct.REPO / "tests" / "data" / "tokenize"


def model_info(model_path: pathlib.Path, sp) -> dict:
    from sentencepiece import sentencepiece_model_pb2 as pb2
    m = pb2.ModelProto()
    m.ParseFromString(model_path.read_bytes())
    ns, ts = m.normalizer_spec, m.trainer_spec
    types = {}
    for p in m.pieces:
        name = pb2.ModelProto.SentencePiece.Type.Name(p.type)
        types[name] = types.get(name, 0) + 1
    return {
        "peer": f"sentencepiece {spm.__version__} (Python package), protobuf ModelProto via sentencepiece_model_pb2",
        "generator": "scripts/goldens/tokenize_spm.py",
        "model_file": "tokenizers/llama2-tokenizer.model (relative to $ENGRAM_SHARED_DATA)",
        "model_type": pb2.TrainerSpec.ModelType.Name(ts.model_type),
        "vocab_size": sp.get_piece_size(),
        "byte_fallback": ts.byte_fallback,
        "normalizer_spec": {
            "name": ns.name,
            "add_dummy_prefix": ns.add_dummy_prefix,
            "remove_extra_whitespaces": ns.remove_extra_whitespaces,
            "escape_whitespaces": ns.escape_whitespaces,
            "precompiled_charsmap_bytes": len(ns.precompiled_charsmap),
        },
        "trainer_spec": {
            "split_digits": ts.split_digits,
            "treat_whitespace_as_suffix": ts.treat_whitespace_as_suffix,
            "allow_whitespace_only_pieces": ts.allow_whitespace_only_pieces,
            "unk_surface": ts.unk_surface,
        },
        "bos_id": sp.bos_id(),
        "eos_id": sp.eos_id(),
        "unk_id": sp.unk_id(),
        "pad_id": sp.pad_id(),
        "piece_types": dict(sorted(types.items())),
        "encode": "sp.encode(text) with no BOS/EOS; invalid UTF-8 cases decoded with errors='replace' first",
    }


def main():
    model_path = ct.shared_data_dir() / "tokenizers" / "llama2-tokenizer.model"
    sp = spm.SentencePieceProcessor(model_file=str(model_path))
    out = OUT_DIR / "llama2_spm.jsonl"
    n = replaced = byte_pieces = unk = 0
    with out.open("w", encoding="utf-8", newline="\n") as f:
        for case, b in ct.iter_cases():
            text, how = ct.as_text(b)
            ids = sp.encode(text)
            # determinism / round-trip sanity: decode gives back the text (modulo the normalizer)
            line = {"id": case["id"], "spm": ct.ids_str(ids)}
            if how == "replaced":
                line["input"] = "replaced"
                replaced += 1
            byte_pieces += sum(1 for i in ids if sp.is_byte(i))
            unk += sum(1 for i in ids if sp.is_unknown(i))
            f.write(json.dumps(line, separators=(",", ":")) + "\n")
            n += 1
    info = model_info(model_path, sp)
    info["cases"] = n
    (OUT_DIR / "llama2_spm_info.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes): {n} cases, {replaced} decoded with errors='replace'; "
          f"{byte_pieces} byte-fallback pieces, {unk} unk ids in all")
    print(f"wrote {OUT_DIR / 'llama2_spm_info.json'}: {json.dumps(info['normalizer_spec'])}, "
          f"model_type={info['model_type']}, byte_fallback={info['byte_fallback']}, vocab={info['vocab_size']}, "
          f"bos={info['bos_id']} eos={info['eos_id']} unk={info['unk_id']}")


if __name__ == "__main__":
    main()
