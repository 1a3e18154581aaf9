"""Loss curves of a training run (RUN_DIR/log.jsonl) as a PNG: training loss per step (and its
running mean over 10 steps) and the held-out validation loss; for self-distillation (val_kl in the log)
the KL part of the training loss and the held-out KL(teacher || student) per answer token.

    .venv/bin/python scripts/train/plot_loss.py RUN_DIR/log.jsonl OUT.png [STEP0_VAL]

STEP0_VAL: the validation loss before training, for logs written before train.py logged it itself
(the committed run's was measured afterwards with train.validation_loss on the untrained model).
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    log, out = sys.argv[1], sys.argv[2]
    rows = [json.loads(line) for line in open(log)]
    distill = any("val_kl" in r for r in rows)
    key = "val_kl" if distill else "val_loss"
    val = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
    rows = [r for r in rows if "loss" in r]
    if len(sys.argv) > 3 and not any(s == 0 for s, _ in val):
        val.insert(0, (0, float(sys.argv[3])))
    steps = [r["step"] for r in rows]
    loss = [r["kl"] if distill else r["loss"] for r in rows]
    mean = [sum(loss[max(0, i - 9): i + 1]) / len(loss[max(0, i - 9): i + 1]) for i in range(len(loss))]
    fig, ax = plt.subplots(figsize=(7, 4))
    what = "KL(teacher || student)" if distill else "loss"
    ax.plot(steps, loss, color="#bbbbbb", lw=0.8, label=f"train {what} (per step)")
    ax.plot(steps, mean, color="#1f77b4", lw=1.6, label=f"train {what}, mean of 10 steps")
    if val:
        ax.plot([s for s, _ in val], [v for _, v in val], "o-", color="#d62728",
                label=("held-out teacher examples (train split), KVLink layout" if distill
                       else "held-out 2WikiMQA (train split) answer loss, KVLink layout"))
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("nats per answer token" if distill else "cross-entropy (nats/token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)


if __name__ == "__main__":
    main()
