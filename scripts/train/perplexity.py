"""Perplexity of the base model, or the base model with a KVLink adapter, in ordinary causal mode
(the engine's `full` mode) on the held-out slice of train/text.jsonl that training never sees (the
last 30 lines; train.py HELD_OUT). Shows whether fine-tuning cost general language ability.

    .venv/bin/python scripts/train/perplexity.py --model BASE.gguf --data DATA_DIR [--adapter A.gguf]
"""
import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvlink_model as km  # noqa: E402
import train  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True, help="rendered data directory (scripts/train/prepare.sh)")
    ap.add_argument("--adapter", help="adapter GGUF (none: the base model)")
    ap.add_argument("--max-tokens", type=int, default=1024)
    args = ap.parse_args()
    _, rows = train.read_rendered(os.path.join(args.data, "text.jsonl"))
    held = rows[-train.HELD_OUT["text"]:]
    base = km.load_base(args.model)
    model = km.apply_adapter(base, *km.read_adapter(args.adapter)) if args.adapter else km.KVLinkModel(base, rank=0)
    model.eval()
    nll, n = 0.0, 0
    with torch.no_grad():
        for ex in held:
            ids = ex["tokens"][: args.max_tokens]
            if len(ids) < 2:
                continue
            h = model.hidden(torch.tensor(ids), km.causal_mask(len(ids)))
            logits = model.logits_at(h, torch.arange(len(ids) - 1))
            nll += torch.nn.functional.cross_entropy(logits, torch.tensor(ids[1:]), reduction="sum").item()
            n += len(ids) - 1
    print(json.dumps({"adapter": args.adapter or None, "examples": len(held), "tokens": n,
                      "perplexity": math.exp(nll / n)}))


if __name__ == "__main__":
    main()
