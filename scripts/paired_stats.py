"""Paired statistics over kvlink-eval predictions (the evaluation protocol, docs/RESULTS.md): every mode
is scored on the same examples, so a mode's difference to `full` is measured example by example.

An example's score is its best-subspan EM; an NQ example answered at several gold positions scores the
mean over them. Intervals are bootstrap percentile intervals over examples (seeded, so a report is
reproducible): a set's accuracy resamples that set's examples; the mean over sets resamples within
each set (stratified) and averages the set means, so each interval is the interval of the figure it
stands beside. Paired differences resample the same examples for both modes."""
import json
import random
import statistics
from collections import defaultdict

N_BOOT = 4000
SEED = 12


def load_predictions(paths):
    """{(dataset, id, gold_position, mode): line} from predictions.jsonl files (later files win)."""
    out = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    p = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut off by an interrupted run
                out[(p["dataset"], p["id"], p["gold_position"], p["mode"])] = p
    return out


def per_example(preds, mode):
    """{dataset: {id: (score, [ttft_ms ...])}} for one mode, NQ's positions averaged."""
    acc = defaultdict(lambda: defaultdict(list))
    for (ds, ex, _pos, m), p in preds.items():
        if m == mode:
            acc[ds][ex].append(p)
    return {ds: {ex: (statistics.mean(p["score"] for p in ps), [p["ttft_ms"] for p in ps]) for ex, ps in exs.items()}
            for ds, exs in acc.items()}


def positions_of(preds, mode):
    """{(dataset, id): set of gold positions} answered in `mode`."""
    out = defaultdict(set)
    for (ds, ex, pos, m) in preds:
        if m == mode:
            out[(ds, ex)].add(pos)
    return out


def common_ids(preds, modes, dataset):
    """Ids of `dataset` answered in every mode of `modes`, at the same gold positions in each."""
    pos = [positions_of(preds, m) for m in modes]
    ids = None
    for p in pos:
        have = {ex for (ds, ex) in p if ds == dataset}
        ids = have if ids is None else ids & have
    return sorted(ex for ex in (ids or ()) if all(p[(dataset, ex)] == pos[0][(dataset, ex)] for p in pos))


def percentile(xs, q):
    xs = sorted(xs)
    i = min(len(xs) - 1, max(0, int(round(q * (len(xs) - 1)))))
    return xs[i]


def bootstrap(samples_by_set, stat, n_boot=N_BOOT, seed=SEED):
    """95 % percentile interval of stat({set: resampled list}) with resampling within each set."""
    rng = random.Random(seed)
    values = []
    for _ in range(n_boot):
        draw = {s: [xs[rng.randrange(len(xs))] for _ in xs] for s, xs in samples_by_set.items() if xs}
        values.append(stat(draw))
    return percentile(values, 0.025), percentile(values, 0.975)


def mean_of_set_means(by_set):
    return statistics.mean(statistics.mean(xs) for xs in by_set.values())


def accuracy(scores_by_set):
    """(point, low, high) of the mean score, for one set ({name: scores}) or several (mean of means)."""
    point = mean_of_set_means(scores_by_set)
    return (point,) + bootstrap(scores_by_set, mean_of_set_means)


def paired(mode_scores, base_scores):
    """Mean difference mode - base over examples present in both, per set averaged over sets, with its
    interval; the arguments are {set: {id: score}}."""
    diffs = {s: [mode_scores[s][i] - base_scores[s][i] for i in sorted(mode_scores[s]) if i in base_scores.get(s, {})]
             for s in mode_scores}
    diffs = {s: d for s, d in diffs.items() if d}
    return accuracy(diffs)
