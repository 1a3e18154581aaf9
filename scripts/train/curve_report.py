"""The accuracy-against-tokens-trained curve of the self-distillation runs (docs/TRAINING.md): every
adapter evaluated on the protocol's examples (results/eval/adapter-distill-KIND-sSTEP, made by
scripts/run_eval.sh or the same kvlink-eval commands) is placed at the tokens its run had trained at
that step (results/distill-KIND/log.jsonl), beside the base model's full, epic and reencode (untrained
kvlink) on the same examples. Prints the markdown table and writes the plot.

    .venv/bin/python scripts/train/curve_report.py [--eval results/eval] [--plot docs/training_curve.png]

Every row is over the examples that all shown modes and adapters have (the common set shrinks to the
least-evaluated adapter); accuracy is the mean over sets with its 95 % bootstrap interval and the
differences are paired (scripts/paired_stats.py)."""
import argparse
import json
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import paired_stats as ps  # noqa: E402
from protocol_report import SETS, interval, save_accuracy_plot  # noqa: E402

BASE_MODES = ["full", "epic", "cacheblend", "reencode"]
NAME = re.compile(r"adapter-distill-(link|lora)-s(\d+)$")


def tokens_at(log_path, step):
    """Tokens trained after `step` optimizer steps of the run whose log this is."""
    total, seen = 0, 0
    for line in open(log_path):
        r = json.loads(line)
        if "tokens" in r and r["step"] <= step:
            total += r["tokens"]
            seen = max(seen, r["step"])
    if seen < step:
        raise SystemExit(f"curve_report: {log_path} stops at step {seen}, before {step}")
    return total


def adapters(eval_dir, runs_dir, min_examples):
    """[(label, kind, step, tokens, {key: prediction})] for each evaluated distillation adapter with kvlink answers."""
    out = []
    for name in sorted(os.listdir(eval_dir)):
        m = NAME.match(name)
        path = os.path.join(eval_dir, name, "predictions.jsonl")
        if not m or not os.path.exists(path):
            continue
        kind, step = m.group(1), int(m.group(2))
        preds = ps.load_predictions([path])
        n = len({(k[0], k[1]) for k in preds if k[3] == "kvlink"})
        if n < min_examples:
            continue
        tokens = tokens_at(os.path.join(runs_dir, f"distill-{kind}", "log.jsonl"), step)
        out.append((f"{kind}-s{step}", kind, step, tokens, preds))
    return sorted(out, key=lambda a: (a[1], a[2]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", default="results/eval")
    ap.add_argument("--runs", default="results", help="the folder of the distill-link and distill-lora runs")
    ap.add_argument("--plot", default="docs/training_curve.png")
    ap.add_argument("--min-examples", type=int, default=1,
                    help="leave out adapters with fewer kvlink examples (a late point must not shrink the common set)")
    a = ap.parse_args()
    base = ps.load_predictions([os.path.join(a.eval, "modes", "predictions.jsonl")])
    ads = adapters(a.eval, a.runs, a.min_examples)
    preds = dict(base)
    columns = list(BASE_MODES)
    for label, _kind, _step, _tokens, p in ads:
        for k, v in p.items():
            if k[3] in ("kvlink", "full"):
                preds[(k[0], k[1], k[2], f"{k[3]}+{label}")] = v
        columns.append(f"kvlink+{label}")
    ids = {s: set(ps.common_ids(preds, columns, s)) for s in SETS}
    sets = [s for s in SETS if ids[s]]
    fulls = [f"full+{label}" for label, *_ in ads]  # rows only for adapters whose full mode has every example
    byid = {m: {s: {i: v[0] for i, v in ps.per_example(preds, m).get(s, {}).items() if i in ids[s]} for s in sets}
            for m in columns + fulls}
    fulls = [m for m in fulls if all(len(byid[m][s]) == len(ids[s]) for s in sets)]
    n = sum(len(ids[s]) for s in sets)
    # each row's accuracy and interval once (a bootstrap), for the table and the plot
    acc = {m: ps.accuracy({s: list(byid[m][s].values()) for s in sets}) for m in columns + fulls}
    tokens = {f"{mode}+{label}": t for label, _k, _s, t, _p in ads for mode in ("kvlink", "full")}
    tokens["reencode"] = 0
    print(f"Over the {n} examples (" + ", ".join(f"{s} {len(ids[s])}" for s in sets) + ") that every row has.\n")
    print("| row | tokens trained | accuracy, mean over sets | minus base `full` | minus `epic` |")
    print("|---|---|---|---|---|")
    for m in columns + fulls:
        d_full = "" if m == "full" else interval(ps.paired(byid[m], byid["full"]), True)
        d_epic = "" if m in ("full", "epic") else interval(ps.paired(byid[m], byid["epic"]), True)
        t = f"{tokens[m]:,}" if m in tokens else ""
        print(f"| {m} | {t} | {interval(acc[m])} | {d_full} | {d_epic} |")

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for k, kind in enumerate(("lora", "link")):
        pts = [(0, "reencode")] + [(t, f"kvlink+{label}") for label, kd, _s, t, _p in ads if kd == kind]
        if len(pts) == 1:
            continue
        xs, ys, lo, hi = [], [], [], []
        for t, m in pts:
            p, low, high = acc[m]
            xs.append(t or 2e4)
            ys.append(100 * p)
            lo.append(100 * (p - low))
            hi.append(100 * (high - p))
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o-", capsize=4, color=f"C{k}",
                    label=f"kvlink + {'link + LoRA' if kind == 'lora' else 'link-only'} adapter")
    for k, m in enumerate(("full", "epic", "cacheblend")):
        p = 100 * acc[m][0]
        ax.axhline(p, color=f"C{k + 2}", linestyle="--", label=f"base {m} ({p:.1f} %)")
    save_accuracy_plot(fig, ax, "tokens trained (log scale; untrained kvlink drawn at 2e4)",
                       f"Self-distillation: kvlink accuracy against tokens trained, {n} examples", a.plot)


if __name__ == "__main__":
    main()
