"""Training throughput on this machine: optimizer steps on the same fixed examples (multi-document QA
in the KVLink layout, as most of the mixture), LoRA + link embeddings, median tokens/s over the timed
steps after one warm-up step.

    .venv/bin/python scripts/train/bench_train.py --model BASE.gguf --data DATA_DIR [--threads N] [--steps 5]
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--full", action="store_true", help="all parameters instead of LoRA")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    _, rows = train.read_rendered(os.path.join(args.data, "qa_2wikimqa.jsonl"))
    model = km.KVLinkModel(km.load_base(args.model), 5, 20, rank=8, alpha=16.0, full=args.full)
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=1e-5)
    seqs = [km.build_sequence(ex, model.n_vocab, 5, 20, "kvlink") for ex in rows[:2]]
    rates = []
    for step in range(args.steps + 1):
        t0, tokens = time.time(), 0
        for seq in seqs:
            loss, _ = km.sequence_loss(model, *seq, "cpu")
            loss.backward()
            tokens += len(seq[0])
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step > 0:
            rates.append(tokens / (time.time() - t0))
    print(json.dumps({"threads": torch.get_num_threads(), "full": args.full, "tokens_per_step": tokens,
                      "median_tokens_per_s": statistics.median(rates), "rates": [round(r, 1) for r in rates]}))


if __name__ == "__main__":
    main()
