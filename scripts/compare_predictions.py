#!/usr/bin/env python3
"""Compares the answers of two kvlink-eval runs, line for line on the pairs both hold.

  scripts/compare_predictions.py STORED.jsonl NEW.jsonl

A pair is (dataset, id, gold position, mode). Every field but the timings (ttft_ms) must be equal.
Prints one line per mode (compared, identical) and each difference; exit 1 when any differs or
nothing is compared."""
import json
import sys
from collections import Counter

TIMINGS = {"ttft_ms"}


def load(path):
    out = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            try:
                j = json.loads(line)
                out[(j["dataset"], j["id"], str(j["gold_position"]), j["mode"])] = j
            except (ValueError, KeyError) as e:
                sys.exit(f"compare_predictions: {path}:{n}: not a prediction line ({e})")
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    stored, new = load(sys.argv[1]), load(sys.argv[2])
    compared, same, diffs = Counter(), Counter(), []
    for key in sorted(new.keys() & stored.keys()):
        a = {k: v for k, v in stored[key].items() if k not in TIMINGS}
        b = {k: v for k, v in new[key].items() if k not in TIMINGS}
        compared[key[3]] += 1
        if a == b:
            same[key[3]] += 1
        else:
            fields = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
            diffs.append(f"  differs: {key}: {', '.join(fields)}")
    for mode in sorted(compared):
        print(f"{mode}: {same[mode]} of {compared[mode]} identical")
    print("\n".join(diffs))
    total = sum(compared.values())
    print(f"compare_predictions: {sum(same.values())} of {total} identical; {len(new.keys() - stored.keys())} new pairs not stored")
    sys.exit(0 if total and not diffs else 1)


if __name__ == "__main__":
    main()
