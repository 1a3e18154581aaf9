#!/usr/bin/env python3
"""Arithmetic lower bound on the time of the whole evaluation (scripts/run_eval.sh with LIMIT=0: every
set, every mode, NQ at gold positions 0, 4 and 9, then kvlink with Q8_0 and Q4_0 chunk caches).

The work of each (example, gold position) pair is taken from the lines already answered
(OUT/modes/predictions.jsonl and OUT/kv-*/predictions.jsonl: prompt length, tokens computed and
reused, tokens generated), averaged per set and scaled to the whole set. Its floating-point operations
come from the model's shapes (GGUF metadata): the matrix products per token (2 x the block weights,
plus the output layer for every token whose logits are needed) and attention (4 x heads x head_dim per
key a token attends to). Dividing by a sustained rate gives a time no implementation doing this
arithmetic can beat at that rate. It leaves out everything else (normalisation, RoPE, softmax, cache
files, CacheBlend's selection pass, tokenising), so the real time is longer. One term errs the other
way, by little: each example's cached tokens include the cached opening (the system prompt, about 30
of some 1,500 tokens), which is really encoded once for the whole run.

A second bound splits the work by kind, each at its own rate: the matrix products of the weights
(--linear-rate, where an int8 kernel could beat F32), attention arithmetic (--attention-rate), and the
bytes of F16 key and value rows a decoded token reads (--bandwidth): a decoding step reads every
visible row of its own sequence, so batching cannot share those bytes, and a step takes at least the
longer of its attention arithmetic and that read.

Usage: scripts/eval_cost.py OUT [--rate GFLOPS ...] [--linear-rate GFLOPS ...] [--attention-rate GFLOPS]
                            [--bandwidth GBPS] [--model GGUF] [--data DIR]
"""
import argparse
import collections
import json
import os

SETS = ["nq", "hotpotqa", "hotpotqa_fullwiki", "2wikimqa", "musique"]


def model_shape(path):
    from gguf import GGUFReader  # the gguf package of the reference environment
    r = GGUFReader(path)
    f = {k: v.contents() for k, v in r.fields.items() if k.startswith("llama.")}
    d, ff, L = f["llama.embedding_length"], f["llama.feed_forward_length"], f["llama.block_count"]
    nh, nkv = f["llama.attention.head_count"], f["llama.attention.head_count_kv"]
    hd = d // nh
    vocab = f.get("llama.vocab_size") or 49152
    block = L * (2 * d * d + 2 * d * nkv * hd + 3 * d * ff)  # q, o; k, v; gate, up, down
    return {"dense": 2 * block, "head": 2 * d * vocab, "attn": 4 * nh * hd * L,
            "kv_bytes": L * 2 * nkv * hd * 2}  # F16 K and V of one cache row, every layer


def read(path):
    return [json.loads(line) for line in open(path)] if os.path.exists(path) else []


def line_work(p, m):
    """Work of one prediction line, by kind: weight products ("linear"), prefill attention arithmetic,
    decoding attention arithmetic and the cache bytes decoding reads."""
    n, comp, gen = p["n_prompt"], p["tokens_computed"], p["n_generated"]
    if p.get("shared_with"):
        return {}  # the twin's line, not computed again
    if p["mode"] == "full":
        attn_pre = m["attn"] * comp * (comp + 1) / 2
    elif p["mode"] == "cacheblend":  # recomputed tokens spread over the prompt: half of it each, on average
        attn_pre = m["attn"] * comp * n / 2
    else:  # computed tokens (link, question) at the end of the reused rows
        attn_pre = m["attn"] * comp * n
    rows_read = gen * n + gen * (gen - 1) / 2  # decoded token i attends to n + i rows
    return {"linear": comp * m["dense"] + m["head"] + gen * (m["dense"] + m["head"]),
            "attn_pre": attn_pre, "attn_dec": m["attn"] * rows_read, "kv_bytes": m["kv_bytes"] * rows_read}


def flops(w):
    """FLOPs of a line_work result: its prefill (what it computed) and its decoding."""
    return w.get("linear", 0.0) + w.get("attn_pre", 0.0) + w.get("attn_dec", 0.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--rate", type=float, nargs="+", default=[200.0], help="sustained GFLOP/s (default 200)")
    ap.add_argument("--linear-rate", type=float, nargs="+", default=[200.0, 600.0],
                    help="sustained GFLOP/s of the weight products (default 200: F32 sgemm; 600: int8)")
    ap.add_argument("--attention-rate", type=float, default=200.0, help="sustained attention GFLOP/s (default 200)")
    ap.add_argument("--bandwidth", type=float, default=30.0, help="memory read GB/s (default 30)")
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--data", default="../shared/data/eval")
    a = ap.parse_args()
    m = model_shape(a.model)

    whole = {}
    for s in SETS:
        path = os.path.join(a.data, f"{s}.jsonl")
        whole[s] = sum(1 for line in open(path) if line.strip()) if os.path.exists(path) else 0
    positions = {"nq": 3}

    # per set: measured FLOPs by part, and the examples they cover
    parts = collections.defaultdict(lambda: collections.defaultdict(float))
    kinds = collections.defaultdict(lambda: collections.defaultdict(float))  # set -> kind -> amount
    examples = collections.defaultdict(set)
    docs = {}  # (set, id) -> chunk tokens encoded once per cache type (the opening included once per line)
    for folder in ("modes", "kv-q8_0", "kv-q4_0"):
        for p in read(os.path.join(a.out, folder, "predictions.jsonl")):
            s = p["dataset"]
            examples[s].add(p["id"])
            key = "modes: " + p["mode"] if folder == "modes" else folder + ": kvlink"
            w = line_work(p, m)
            parts[s][key] += flops(w)
            for k, v in w.items():
                kinds[s][k] += v
            if p["mode"] in ("kvlink", "reencode", "noshift") and not p.get("shared_with"):
                docs[(s, p["id"])] = p["tokens_reused"]
    # Each document is encoded once, for the F16 caches; the Q8_0 and Q4_0 caches are quantised from those
    # (kvlink/cache/cache_store.h), which costs no model arithmetic.
    for (s, _), tokens in docs.items():
        parts[s]["document encoding (F16 caches)"] += tokens * m["dense"]
        kinds[s]["linear"] += tokens * m["dense"]

    total = collections.defaultdict(float)
    kind = collections.defaultdict(float)
    for s in SETS:
        if not examples[s]:
            continue
        scale = whole[s] / len(examples[s])
        for k, v in parts[s].items():
            total[k] += v * scale
        for k, v in kinds[s].items():
            kind[k] += v * scale
    grand = sum(total.values())
    print(f"Model: {m['dense'] / 1e6:.0f} MFLOP per token in the blocks, {m['head'] / 1e6:.0f} MFLOP for the output "
          f"layer, {m['attn'] / 1e3:.0f} kFLOP per attended key.")
    print("Measured examples per set: " + ", ".join(f"{s} {len(examples[s])} of {whole[s]}"
                                                      + (f" (x{positions[s]} positions)" if s in positions else "")
                                                      for s in SETS if examples[s]))
    print()
    print("| part of the whole run | TFLOP | share |")
    print("|---|---|---|")
    for k, v in sorted(total.items(), key=lambda kv: -kv[1]):
        print(f"| {k} | {v / 1e12:.0f} | {100 * v / grand:.0f} % |")
    print(f"| **total** | **{grand / 1e12:.0f}** | |")
    print()
    for r in a.rate:
        print(f"At a sustained {r:.0f} GFLOP/s: at least {grand / (r * 1e9) / 3600:.2f} h.")
    print()
    att = a.attention_rate * 1e9
    t_pre = kind["attn_pre"] / att
    t_dec = max(kind["attn_dec"] / att, kind["kv_bytes"] / (a.bandwidth * 1e9))
    print(f"By kind: weight products {kind['linear'] / 1e12:.0f} TFLOP; prefill attention {kind['attn_pre'] / 1e12:.0f} TFLOP "
          f"({t_pre / 3600:.2f} h at {a.attention_rate:.0f} GFLOP/s); decoding attention {kind['attn_dec'] / 1e12:.0f} TFLOP "
          f"reading {kind['kv_bytes'] / 1e12:.0f} TB of cache rows ({kind['kv_bytes'] / (a.bandwidth * 1e9) / 3600:.2f} h "
          f"at {a.bandwidth:.0f} GB/s).")
    for r in a.linear_rate:
        t = kind["linear"] / (r * 1e9) + t_pre + t_dec
        print(f"Weight products at {r:.0f} GFLOP/s, attention at {a.attention_rate:.0f}, cache reads at "
              f"{a.bandwidth:.0f} GB/s: at least {t / 3600:.2f} h.")


if __name__ == "__main__":
    main()
