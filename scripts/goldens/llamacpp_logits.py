#!/usr/bin/env python3
"""Logits goldens from llama.cpp (llama-cpp-python) for tests/inference/llama_golden_test.cc.

Writes tests/data/logits/:
  smollm2_q4_1.json, smollm2_f16.json  5 prompts x 64 positions: llama.cpp's top-32 token ids
                                       and logits, the log-sum-exp of all logits, the top-2 gap;
                                       and the same figures for llama.cpp with flash attention
                                       on against it (the envelope the test allows engram)
  smollm2_q4_1_greedy.json, smollm2_f16_greedy.json
                                       3 prompts, 128 greedy tokens (argmax of llama.cpp's
                                       logits, EOS ignored), the top-2 gap at each step, and
                                       the tokens llama.cpp picks with flash attention on
  gemma3_q4_k_m.json, gemma3_q4_k_m_greedy.json   (with the argument `gemma3`)
                                       the same for Gemma 3 270M (BOS first, Gemma's chat
                                       markup), plus a 1,100-token essay prompt whose logits are
                                       kept at 64 positions ("at"), most past the 512-token
                                       sliding window, at n_ctx 2048

Run with .venv-peers/bin/python (scripts/goldens/setup_peers.sh) after scripts/setup.sh made the
models: `llamacpp_logits.py` (SmolLM2) or `llamacpp_logits.py gemma3` (after
scripts/fetch_models.sh --with gemma3). ENGRAM_SHARED_DATA (default ../shared/data) supplies the prompt texts.
"""
import hashlib
import json
import os
import pathlib
import sys

import numpy as np
from llama_cpp import Llama, __version__ as llama_cpp_version

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED = pathlib.Path(os.environ.get("ENGRAM_SHARED_DATA", ROOT.parent / "shared" / "data"))
MODELS = pathlib.Path(os.environ.get("ENGRAM_MODELS_DIR", pathlib.Path.home() / ".cache/engram/models"))
OUT = ROOT / "tests" / "data" / "logits"
TOP_N = 32
POSITIONS = 64


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def prompt_texts():
    essay = sorted((SHARED / "haystack" / "pg_essays").glob("*.txt"))[0].read_text()
    xquad = json.loads((SHARED / "xquad" / "xquad.de.shared.json").read_text())
    german = xquad["data"][0]["paragraphs"][0]["context"]
    chat = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
            "Explain in a few sentences why the sky is blue, and why sunsets are red or orange "
            "instead. Keep it simple enough for a child to follow, use one everyday example, and "
            "finish with a one-line summary that starts with 'In short'.<|im_end|>\n"
            "<|im_start|>assistant\n")
    code = ("def merge_sorted(a, b):\n    \"\"\"Merge two sorted lists into one sorted list.\"\"\"\n"
            "    out, i, j = [], 0, 0\n    while i < len(a) and j < len(b):\n"
            "        if a[i] <= b[j]:\n            out.append(a[i]); i += 1\n        else:\n"
            "            out.append(b[j]); j += 1\n    return out + a[i:] + b[j:]\n")
    numbers = ("Shopping list:\n1. 3 apples ($0.45 each)\n2. 2 litres of milk ($1.19)\n"
               "3. 12 eggs ($2.89)\n4. 500 g flour ($0.79)\nTotal: 3*0.45 + 1.19 + 2.89 + 0.79 = "
               "6.22 dollars. Dates: 2026-11-28, 1999-01-01; times 07:30, 23:59.")
    return [("essay", essay), ("chat", chat), ("code", code), ("german", german),
            ("numbers", numbers)]


N_CTX = 512  # 2048 for gemma3 (its long prompt)


def load(path, logits_all, flash_attn=False):
    return Llama(str(path), n_ctx=N_CTX, n_threads=2, n_batch=512, logits_all=logits_all,
                 flash_attn=flash_attn, verbose=False, seed=0)


def settings(llm):
    p = llm.context_params
    return {"n_ctx": N_CTX, "n_batch": 512, "n_threads": 2,
            "flash_attn": str(getattr(p, "flash_attn_type", getattr(p, "flash_attn", "?"))),
            "type_k": int(getattr(p, "type_k", -1)), "type_v": int(getattr(p, "type_v", -1))}


def logits_golden(model_file, prompts, flash_attn=False):
    path = MODELS / model_file
    llm = load(path, True, flash_attn)
    out = {"peer": f"llama-cpp-python {llama_cpp_version}", "model": model_file,
           "model_sha256": sha256(path), "settings": settings(llm), "top_n": TOP_N, "prompts": []}
    rows = []
    for prompt in prompts:
        name, tokens = prompt[0], prompt[1]
        at = prompt[2] if len(prompt) > 2 else None
        llm.reset()
        llm.eval(tokens)
        scores = np.array(llm.scores[:len(tokens)] if at is None else llm.scores[at],
                          dtype=np.float32)
        positions = []
        for row in scores:
            top = np.argsort(-row, kind="stable")[:TOP_N]
            m = float(row.max())
            lse = m + float(np.log(np.exp(row.astype(np.float64) - m).sum()))
            positions.append({"top_ids": [int(i) for i in top],
                              "top_logits": [round(float(row[i]), 5) for i in top],
                              "logsumexp": lse, "top2_gap": float(row[top[0]] - row[top[1]])})
        entry = {"name": name, "tokens": tokens, "positions": positions}
        if at is not None:
            entry["at"] = at
        out["prompts"].append(entry)
        rows.append(scores)
    return out, rows


def envelope(golden, ref_rows, other_rows):
    """The figures engram's test computes, for a second llama.cpp run against the first."""
    same = ties = 0
    abs_sum = abs_max = kl_sum = 0.0
    count = 0
    for prompt, ref, other in zip(golden["prompts"], ref_rows, other_rows):
        for pos, r, o in zip(prompt["positions"], ref, other):
            ids = pos["top_ids"]
            if int(np.argmax(o)) == ids[0]:
                same += 1
            m = float(o.max())
            lse_o = m + float(np.log(np.exp(o.astype(np.float64) - m).sum()))
            kl = 0.0
            for i in ids:
                d = abs(float(o[i]) - float(r[i]))
                abs_sum += d
                abs_max = max(abs_max, d)
                count += 1
                lp, lq = float(r[i]) - pos["logsumexp"], float(o[i]) - lse_o
                kl += np.exp(lp) * (lp - lq)
            kl_sum += kl
    n = sum(len(p["positions"]) for p in golden["prompts"])
    return {"top1_same": same, "positions": n, "max_abs": abs_max, "mean_abs": abs_sum / count,
            "mean_kl": kl_sum / n}


def greedy_golden(model_file, prompts, steps=128, flash_attn=False):
    path = MODELS / model_file
    llm = load(path, True, flash_attn)  # without logits_all, llama-cpp-python leaves scores zero
    out = {"peer": f"llama-cpp-python {llama_cpp_version}", "model": model_file,
           "model_sha256": sha256(path), "settings": settings(llm), "prompts": []}
    for name, tokens, *_ in prompts:
        llm.reset()
        llm.eval(tokens)
        generated, gaps = [], []
        for _ in range(steps):
            row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
            top = np.argsort(-row, kind="stable")[:2]
            generated.append(int(top[0]))
            gaps.append(float(row[top[0]] - row[top[1]]))
            llm.eval([int(top[0])])
        out["prompts"].append({"name": name, "prompt_tokens": tokens, "generated": generated,
                               "top2_gap": gaps})
    return out


def gemma3_prompts(tok):
    """Gemma's BOS first; the chat prompt in Gemma's markup; a long essay prompt."""
    prompts = []
    for name, text in prompt_texts():
        if name == "chat":
            text = text.replace("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n", "")
            text = text.replace("<|im_start|>user\n", "<start_of_turn>user\n")
            text = text.replace("<|im_end|>\n<|im_start|>assistant\n",
                                "<end_of_turn>\n<start_of_turn>model\n")
        ids = tok.tokenize(text.encode(), add_bos=True, special=True)
        prompts.append((name, ids[:POSITIONS]))
    essays = sorted((SHARED / "haystack" / "pg_essays").glob("*.txt"))
    long_ids = tok.tokenize("\n\n".join(e.read_text() for e in essays[:3]).encode(),
                            add_bos=True, special=False)[:1100]
    at = sorted(set([0, 100, 300, 500, 510, 511, 512, 513, 520] +
                    list(range(530, 1100, 10))))[:64]
    prompts.append(("long_essay", long_ids, at))
    return prompts


def main_gemma3():
    global N_CTX
    N_CTX = 2048
    model_file = "gemma-3-270m-q4_k_m.gguf"
    tok = load(MODELS / model_file, False)
    prompts = gemma3_prompts(tok)
    del tok
    golden, rows = logits_golden(model_file, prompts)
    _, flash_rows = logits_golden(model_file, prompts, flash_attn=True)
    golden["llama_cpp_flash_attn_vs_default"] = envelope(golden, rows, flash_rows)
    (OUT / "gemma3_q4_k_m.json").write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    gaps = [p["top2_gap"] for pr in golden["prompts"] for p in pr["positions"]]
    print(f"gemma3_q4_k_m.json: min top-2 gap {min(gaps):.2e}, flash attention vs default: "
          f"{golden['llama_cpp_flash_attn_vs_default']}")
    greedy_prompts = [prompts[0], prompts[1], prompts[2]]
    greedy = greedy_golden(model_file, greedy_prompts, steps=64)
    flash = greedy_golden(model_file, greedy_prompts, steps=64, flash_attn=True)
    for p, f in zip(greedy["prompts"], flash["prompts"]):
        p["generated_flash_attn"] = f["generated"]
    (OUT / "gemma3_q4_k_m_greedy.json").write_text(json.dumps(greedy, separators=(",", ":")) + "\n")


def main():
    if sys.argv[1:] == ["gemma3"]:
        return main_gemma3()
    OUT.mkdir(parents=True, exist_ok=True)
    tok = load(MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf", False)
    prompts = []
    for name, text in prompt_texts():
        ids = tok.tokenize(text.encode(), add_bos=False, special=True)
        if len(ids) < POSITIONS:
            sys.exit(f"prompt {name} has only {len(ids)} tokens")
        prompts.append((name, ids[:POSITIONS]))
    del tok
    # llama.cpp with flash attention on is a second, equally valid llama.cpp: how far it lands
    # from the default run is the envelope that last-bit differences in attention produce.
    for model_file, out_name in [("SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2_q4_1.json"),
                                 ("SmolLM2-135M-Instruct.F16.gguf", "smollm2_f16.json")]:
        golden, rows = logits_golden(model_file, prompts)
        _, flash_rows = logits_golden(model_file, prompts, flash_attn=True)
        golden["llama_cpp_flash_attn_vs_default"] = envelope(golden, rows, flash_rows)
        (OUT / out_name).write_text(json.dumps(golden, separators=(",", ":")) + "\n")
        gaps = [p["top2_gap"] for pr in golden["prompts"] for p in pr["positions"]]
        print(f"{out_name}: min top-2 gap {min(gaps):.2e}, settings {golden['settings']}, "
              f"flash attention vs default: {golden['llama_cpp_flash_attn_vs_default']}")
    greedy_prompts = [prompts[0], prompts[1], prompts[2]]  # essay, chat, code
    for model_file, out_name in [("SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2_q4_1_greedy.json"),
                                 ("SmolLM2-135M-Instruct.F16.gguf", "smollm2_f16_greedy.json")]:
        greedy = greedy_golden(model_file, greedy_prompts)
        flash = greedy_golden(model_file, greedy_prompts, flash_attn=True)
        for p, f in zip(greedy["prompts"], flash["prompts"]):
            p["generated_flash_attn"] = f["generated"]
            same = next((i for i, (a, b) in enumerate(zip(p["generated"], f["generated"]))
                         if a != b), len(p["generated"]))
            print(f"{out_name} {p['name']}: min top-2 gap {min(p['top2_gap']):.2e}; llama.cpp "
                  f"with flash attention agrees for {same} tokens")
        (OUT / out_name).write_text(json.dumps(greedy, separators=(",", ":")) + "\n")

if __name__ == "__main__":
    main()
