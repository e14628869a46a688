#!/usr/bin/env python3
"""Converts engram's default generator GGUF (SmolLM2-135M-Instruct Q4_1) into a transformers model
directory, so that LLMLingua scores tokens with the same weights as engram (the Q4_1 blocks are
dequantized to float32 by transformers' GGUF loader). Prints one sanity line: the mean next-token
loss of the converted model on a sample sentence (finite and < 6 nats, else exit 1).

  python bench/convert_scorer.py [--gguf PATH] [--out DIR] [--force]

Defaults: $ENGRAM_MODELS_DIR (else ~/.cache/engram/models)/SmolLM2-135M-Instruct.Q4_1.gguf ->
<same dir>/SmolLM2-135M-Instruct-Q4_1-hf/. Skips the conversion when DIR already holds a model
(config.json and model.safetensors) unless --force. Run by bench/peer_compress.sh with
.venv-bench-llmlingua (transformers 4.47.1, see bench/peer_venv.sh); transformers 5 works too.
The tokenizer keeps the GGUF's add_bos_token (false) and decodes without space clean-up, as
llama.cpp does; a directory saved without that is converted again.
"""
import argparse
import json
import math
import os
import pathlib
import sys

SAMPLE = ("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, "
          "France. It is named after the engineer Gustave Eiffel, whose company designed and "
          "built the tower.")
MAX_LOSS = 6.0


def default_paths():
    models = pathlib.Path(os.environ.get("ENGRAM_MODELS_DIR",
                                         pathlib.Path.home() / ".cache/engram/models"))
    return models / "SmolLM2-135M-Instruct.Q4_1.gguf", models / "SmolLM2-135M-Instruct-Q4_1-hf"


def parse_args():
    gguf, out = default_paths()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gguf", type=pathlib.Path, default=gguf)
    p.add_argument("--out", type=pathlib.Path, default=out)
    p.add_argument("--force", action="store_true", help="convert even when --out exists")
    return p.parse_args()


def converted(out):
    """True when OUT holds a model saved by this version (tokenizer without space clean-up)."""
    config = out / "tokenizer_config.json"
    return ((out / "config.json").is_file() and (out / "model.safetensors").is_file()
            and config.is_file()
            and json.loads(config.read_text()).get("clean_up_tokenization_spaces") is False)


def plain_weights(model):
    """transformers 5 loads every GGUF through its GGUF quantizer, whose save_pretrained refuses
    even when, as here (llama arch, CPU), it has unpacked every block into plain float tensors.
    Checks that nothing stayed packed, then drops the quantizer as its own dequantize() would."""
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is None:
        return
    if getattr(quantizer, "packed_modules", None):
        sys.exit("convert_scorer: error: transformers kept GGUF blocks packed; cannot save")
    quantizer.remove_quantization_config(model)


def like_llama_cpp(tokenizer, gguf):
    """transformers 4.47's GGUF tokenizer prepends BOS whatever the file says, and decodes with
    clean_up_tokenization_spaces (" ," -> ","), which breaks llmlingua's prefix check on NQ's
    spaced punctuation and alters the text it returns. llama.cpp (and engram) follow
    tokenizer.ggml.add_bos_token (false for SmolLM2) and decode without clean-up, as SmolLM2's
    own tokenizer_config does."""
    tokenizer.clean_up_tokenization_spaces = False
    from gguf import GGUFReader
    field = GGUFReader(gguf).fields.get("tokenizer.ggml.add_bos_token")
    if field is not None and hasattr(tokenizer, "add_bos_token"):
        tokenizer.add_bos_token = bool(field.parts[field.data[0]][0])


def convert(gguf, out):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    src, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=name)
    like_llama_cpp(tokenizer, gguf)
    model = AutoModelForCausalLM.from_pretrained(src, gguf_file=name, torch_dtype=torch.float32)
    plain_weights(model)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def mean_loss(out):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    ids = tokenizer(SAMPLE, return_tensors="pt").input_ids
    with torch.no_grad():
        loss = model(ids, labels=ids).loss.item()
    return loss, ids.shape[1], ids[0, 0].item() == tokenizer.bos_token_id


def main():
    args = parse_args()
    if converted(args.out) and not args.force:
        print(f"convert_scorer: {args.out} exists (--force to redo)", file=sys.stderr)
    else:
        if not args.gguf.is_file():
            print(f"convert_scorer: error: GGUF '{args.gguf}' is missing; run "
                  "scripts/fetch_models.sh", file=sys.stderr)
            return 2
        print(f"convert_scorer: {args.gguf} -> {args.out}", file=sys.stderr)
        convert(args.gguf, args.out)
    loss, n, bos = mean_loss(args.out)
    ok = math.isfinite(loss) and loss < MAX_LOSS
    print(f"convert_scorer: {args.out}: mean next-token loss {loss:.3f} nats over {n} tokens, "
          f"{'with' if bos else 'no'} BOS ({'ok' if ok else 'IMPLAUSIBLE, expected < %g' % MAX_LOSS})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
