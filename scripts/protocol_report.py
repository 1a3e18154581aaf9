"""Writes docs/RESULTS.md and docs/eval_accuracy_ttft.png from the evaluation protocol's predictions
(scripts/run_eval.sh): per set and on the mean over sets, each mode's accuracy with its 95 % interval,
its paired difference to `full` with a bootstrap 95 % interval (scripts/paired_stats.py), mean and
median TTFT and their ratio to full's, NQ by gold position, and the plot of accuracy against TTFT.
Every table is over the same examples: those answered in every mode shown."""
import argparse
import json
import os
import re
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paired_stats as ps  # noqa: E402

SETS = ["nq", "hotpotqa", "hotpotqa_fullwiki", "2wikimqa", "musique"]


def pct(x):
    return f"{100 * x:.1f}"


def interval(t, signed=False):
    point, lo, hi = t
    f = (lambda x: f"{100 * x:+.1f}") if signed else pct
    return f"{f(point)} [{f(lo)}, {f(hi)}]"


def table(header, rows):
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def save_accuracy_plot(fig, ax, xlabel, title, path):
    """Log-scale x axis, the accuracy axis, grid and legend, then the PNG (both reports' plots)."""
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy, mean over sets, % (95 % interval)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def run_times(out):
    runs = []
    path = os.path.join(out, "time.txt")
    if os.path.exists(path):
        for line in open(path):
            m = re.match(r"run_eval: (\d+) s, (\d+) new (pairs|answers) \((.*)\)", line.strip())
            if m:  # lines before 2026-12-02 counted new (example, position) pairs, later ones new answers
                runs.append((int(m.group(1)), f"{m.group(2)} {m.group(3)}", m.group(4)))
    return runs


def adapter_folders(out):
    """OUT/adapter-NAME folders with answers, in the order of their training steps (distill-lora-s9 before -s47)."""
    def key(name):
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]
    names = [n for n in os.listdir(out) if n.startswith("adapter-") and os.path.exists(os.path.join(out, n, "predictions.jsonl"))]
    return [os.path.join(out, n) for n in sorted(names, key=key)]


def adapter_section(folder, base):
    """Accuracy and paired difference to base `full` of an adapter's modes (named MODE+ADAPTER), beside
    the base model's full, reencode and epic, over the examples all of them have."""
    name = os.path.basename(os.path.normpath(folder)).removeprefix("adapter-")
    trained = ps.load_predictions([os.path.join(folder, "predictions.jsonl")])
    preds = dict(base)
    preds.update({(k[0], k[1], k[2], f"{k[3]}+{name}"): v for k, v in trained.items()})
    modes = ["full", "reencode", "epic"] + sorted({f"{k[3]}+{name}" for k in trained})
    ids = {s: set(ps.common_ids(preds, modes, s)) for s in SETS}
    sets = [s for s in SETS if ids[s]]
    byid = {m: {s: {i: v[0] for i, v in ps.per_example(preds, m).get(s, {}).items() if i in ids[s]} for s in sets}
            for m in modes}
    L = ["", f"## Adapter `{name}` (`{folder}`)", "",
         f"Over the {sum(len(ids[s]) for s in sets)} examples (" + ", ".join(f"{s} {len(ids[s])}" for s in sets) +
         ") that every mode below has; accuracy % [95 % interval], then the paired difference to base `full`.", ""]
    rows = [[m, interval(ps.accuracy({s: list(byid[m][s].values()) for s in sets})),
             "" if m == "full" else interval(ps.paired(byid[m], byid["full"]), True)] for m in modes]
    return L + table(["mode", "accuracy, mean over sets", "minus full"], rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", help="run_eval.sh's output folder (OUT/modes/predictions.jsonl)")
    ap.add_argument("--modes", default="full,reencode,noshift,cacheblend,prefix,ape,epic")
    ap.add_argument("--command", default="scripts/run_eval.sh")
    ap.add_argument("--results", default="docs/RESULTS.md")
    ap.add_argument("--plot", default="docs/eval_accuracy_ttft.png")
    ap.add_argument("--remark", help="a markdown file whose text closes the report (default OUT/remark.md, if it exists): "
                                     "what the run covers and under which conditions, kept beside the answers so that "
                                     "every regeneration keeps it")
    ap.add_argument("--adapters", nargs="*",
                    help="run_eval.sh's adapter folders (default every OUT/adapter-NAME): a section comparing each "
                         "adapter's modes with the base model's on the examples both have")
    ap.add_argument("--ttft", help="bench-ttft JSON lines: plot each mode at that run's median TTFT (one machine, "
                                   "one load) instead of the evaluation's, which invocations measured apart")
    a = ap.parse_args()
    preds = ps.load_predictions([os.path.join(a.out, "modes", "predictions.jsonl")])
    present = {k[3] for k in preds}
    modes = [m for m in a.modes.split(",") if m in present]
    sets = [s for s in SETS if any(k[0] == s for k in preds)]
    ids = {s: set(ps.common_ids(preds, modes, s)) for s in sets}
    sets = [s for s in sets if ids[s]]
    ex = {m: {s: {i: v for i, v in ps.per_example(preds, m).get(s, {}).items() if i in ids[s]} for s in sets} for m in modes}
    scores = {m: {s: [v[0] for v in ex[m][s].values()] for s in sets} for m in modes}
    ttfts = {m: {s: [t for v in ex[m][s].values() for t in v[1]] for s in sets} for m in modes}
    runs = run_times(a.out)
    n_pairs = sum(len(ids[s]) * (3 if s == "nq" else 1) for s in sets)

    L = ["# Evaluation results", "", "Generated by `scripts/run_eval.sh` (then `scripts/protocol_report.py`); do not edit by hand.", "",
         f"Command: `{a.command}` on this project's 2-core machine (an AMD EPYC with AVX2 until 2026-11-26 and on the evening of 2026-12-02, an Intel Xeon with AVX-512 from 2026-11-27 to 2026-12-02 and on 2026-12-03), default model SmolLM2-135M-Instruct "
         "Q4_1 (base model, no adapter: `kvlink` has no link tokens and equals `reencode`), greedy decoding up to 200 new "
         "tokens, F16 chunk caches, best-subspan EM. The protocol: the first 100 NQ examples at gold positions 0, 4 and 9 "
         "(an example scores the mean over its positions) and the first 200 of every other set.", "",
         f"Every table below is over the same {n_pairs} (example, gold position) pairs: those answered in all of "
         f"{', '.join(modes)} so far (" + ", ".join(f"{s} {len(ids[s])}" for s in sets) + " examples).", "",
         "## Accuracy (%), with its 95 % bootstrap interval", ""]
    rows = [[s, str(len(ids[s]))] + [interval(ps.accuracy({s: scores[m][s]})) for m in modes] for s in sets]
    rows.append(["**mean over sets**", str(sum(len(ids[s]) for s in sets))] + [interval(ps.accuracy(scores[m])) for m in modes])
    L += table(["dataset", "n"] + modes, rows)
    L += ["", "## Paired difference to `full` (points), with its 95 % bootstrap interval", "",
          "Mode minus full on the same examples; an interval that excludes 0 is a measured difference.", ""]
    byid = {m: {s: {i: v[0] for i, v in ex[m][s].items()} for s in sets} for m in modes}
    others = [m for m in modes if m != "full"]
    if "full" in modes:
        rows = [[s] + [interval(ps.paired({s: byid[m][s]}, {s: byid["full"][s]}), True) for m in others] for s in sets]
        rows.append(["**mean over sets**"] + [interval(ps.paired(byid[m], byid["full"]), True) for m in others])
        L += table(["dataset"] + others, rows)
    L += ["", "## Time to first token (ms): mean / median, and the median's ratio to full's", ""]
    rows = []
    for s in sets:
        full_med = statistics.median(ttfts["full"][s]) if "full" in modes else None
        cells = []
        for m in modes:
            t = ttfts[m][s]
            ratio = f", {100 * statistics.median(t) / full_med:.1f} %" if full_med else ""
            cells.append(f"{statistics.mean(t):.0f} / {statistics.median(t):.0f}{ratio}")
        rows.append([s] + cells)
    L += table(["dataset"] + modes, rows)
    if "nq" in sets:
        L += ["", "## NQ by gold position (accuracy %)", ""]
        rows = []
        for m in modes:
            cells = []
            for pos in ("0", "4", "9"):
                xs = [preds[("nq", i, pos, m)]["score"] for i in ids["nq"] if ("nq", i, pos, m) in preds]
                cells.append(pct(statistics.mean(xs)) if xs else "")
            rows.append([m] + cells)
        L += table(["mode", "position 0", "position 4", "position 9"], rows)
    if runs:
        L += ["", "## Run time", "", "Invocations of `scripts/run_eval.sh` (each resumes the one before):", ""]
        L += table(["invocation", "settings", "wall time", "added"],
                   [[str(i), st, f"{sec} s", str(add)] for i, (sec, add, st) in enumerate(runs, 1)])
        L += ["", f"Total: {sum(r[0] for r in runs)} s."]
    for folder in a.adapters if a.adapters is not None else adapter_folders(a.out):
        L += adapter_section(folder, preds)
    if a.remark and not os.path.isfile(a.remark):
        raise SystemExit(f"protocol_report: --remark {a.remark}: no such file")
    remark = a.remark or os.path.join(a.out, "remark.md")
    if os.path.exists(remark):
        L += ["", open(remark).read().strip()]
    L += ["", "![accuracy vs TTFT](eval_accuracy_ttft.png)", ""]
    open(a.results, "w").write("\n".join(L) + "\n")

    bench = {}
    if a.ttft:
        for line in open(a.ttft):
            r = json.loads(line)
            bench[r["mode"]] = r["ttft_ms_median"]
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for k, m in enumerate(modes):
        if a.ttft and m not in bench:
            continue
        med = bench[m] if a.ttft else statistics.median(t for s in sets for t in ttfts[m][s])
        point, lo, hi = ps.accuracy(scores[m])
        ax.errorbar([med], [100 * point], yerr=[[100 * (point - lo)], [100 * (hi - point)]], fmt="o", color=f"C{k}",
                    capsize=4, label=m)
    save_accuracy_plot(fig, ax, "median TTFT, ms (log scale)" + (": bench-ttft at 2k context, 2 threads" if a.ttft else ""),
                       f"SmolLM2-135M Q4_1, base model, {n_pairs} evaluation pairs", a.plot)


if __name__ == "__main__":
    main()
