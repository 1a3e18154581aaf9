"""Training throughput of self-distillation by layout size, to size the run for this machine
(docs/TRAINING.md): for each (documents per example, tokens per document), one distillation step per
example (the teacher's causal forward without the adapter, the student's forward and backward in the
KVLink layout) on teacher examples cut to that size, interleaved across sizes so that the machine's
load weighs on all alike; median tokens/s and examples per hour over the rounds.

    .venv/bin/python scripts/train/bench_sizes.py --model BASE.gguf --teacher DIR [--sizes 5x200,10x150,10x200]
        [--rounds 3] [--threads 1] [--rank 0] [--set qa_nq]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvlink_model as km  # noqa: E402
import train  # noqa: E402


def cut(example, n_docs, doc_tokens):
    """The example cut to (n_docs, doc_tokens) as training cuts it (None: too few documents)."""
    if len(example["chunks"]) < n_docs:
        return None
    return km.cut_example(example, n_docs, doc_tokens)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--sizes", default="5x200,10x150,10x200")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rank", type=int, default=0)
    ap.add_argument("--set", default="qa_nq", help="teacher set whose examples are cut (qa_nq: ~150-token passages)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    _, rows = train.read_rendered(os.path.join(a.teacher, a.set + ".jsonl"))
    model = km.KVLinkModel(km.load_base(a.model), 5, 20, rank=a.rank, alpha=16.0)
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=1e-5)
    sizes = [tuple(map(int, s.split("x"))) for s in a.sizes.split(",")]
    rates = {s: [] for s in sizes}
    tokens_of = {}
    for r in range(a.rounds + 1):  # round 0 warms up
        for s in sizes:
            ex = next(e for e in (cut(x, *s) for x in rows[r:]) if e is not None)
            t0 = time.time()
            loss, _, _, _ = km.distill_loss(model, ex, "kvlink", None, "cpu")
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            dt = time.time() - t0
            tokens_of[s] = km.example_tokens(ex)
            if r > 0:
                rates[s].append(km.example_tokens(ex) / dt)
    for s in sizes:
        tps = statistics.median(rates[s])
        print(json.dumps({"docs": s[0], "doc_tokens": s[1], "example_tokens": tokens_of[s], "threads": a.threads,
                          "rank": a.rank, "median_tokens_per_s": round(tps, 1),
                          "examples_per_hour": round(3600 * tps / tokens_of[s]), "rates": [round(x, 1) for x in rates[s]]}))


if __name__ == "__main__":
    main()
