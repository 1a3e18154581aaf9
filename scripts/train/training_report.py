"""Accuracy of the base model and of the model with a KVLink adapter, per eval set and mode, from two
kvlink-eval output folders (summary.json), as a markdown table (printed). NQ counts as the mean over
its gold positions, as in docs/RESULTS.md.

    .venv/bin/python scripts/train/training_report.py BASE_DIR TRAINED_DIR
"""
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from eval_report import MODES, SETS, headline, pct  # noqa: E402


def groups(folder):
    return json.load(open(os.path.join(folder, "summary.json")))["groups"]


def main():
    base, trained = groups(sys.argv[1]), groups(sys.argv[2])
    lines = ["| model | mode | " + " | ".join(SETS) + " | mean over sets |", "|---|---|" + "---|" * (len(SETS) + 1)]
    for who, gs in (("base", base), ("trained", trained)):
        for m in MODES:
            cells, accs = [], []
            for s in SETS:
                g = headline(gs, s, m)
                cells.append(f"{pct(g['accuracy'])} (n={g['n']})" if g else "")
                if g:
                    accs.append(g["accuracy"])
            mean = pct(statistics.mean(accs)) if len(accs) == len(SETS) else ""
            lines.append(f"| {who} | {m} | " + " | ".join(cells) + f" | {mean} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
