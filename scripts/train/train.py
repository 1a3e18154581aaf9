"""KVLink fine-tuning: link-token embeddings + LoRA (default), link-token embeddings alone (--rank 0) or
all parameters, on gold answers (--objective gold: a mixture of multi-document QA in the KVLink layout
and ordinary data) or by self-distillation from the base model's own full-prefill answers
(--objective distill; mixed: both) (docs/TRAINING.md).

    python scripts/train/train.py --model BASE.gguf --data DATA_DIR --out RUN_DIR [options]
    python scripts/train/train.py --model BASE.gguf --objective distill --teacher TEACHER_DIR --out RUN_DIR

DATA_DIR is made by scripts/train/prepare.sh (kvlink-render output, the engine's own prompt layout);
TEACHER_DIR by scripts/train/make_teacher_data.py.
Runs on CPU or CUDA with the same code; several GPUs with torchrun (gradients all-reduced). Resumes
from RUN_DIR/checkpoint.pt. Writes RUN_DIR/log.jsonl (one line per step), RUN_DIR/checkpoint.pt and,
at the end, RUN_DIR/adapter.gguf.
"""
import argparse
import json
import math
import os
import random
import sys
import time

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export  # noqa: E402
import kvlink_model as km  # noqa: E402

QA_FILES = ["qa_nq", "qa_2wikimqa", "qa_hotpotqa", "qa_musique", "multidoc_wikihop"]
# (component, weight, rendered files, layout). Why this mixture: docs/TRAINING.md.
MIXTURE = [
    ("kvlink_qa", 0.50, QA_FILES, "kvlink"),
    ("causal_qa", 0.10, QA_FILES, "causal"),
    ("summary_docs", 0.10, ["chat_xsum.docs"], "kvlink"),
    ("chat", 0.20, ["chat_alpaca", "chat_sft", "chat_gsm8k", "chat_reading"], "causal"),
    ("text", 0.10, ["text"], "causal"),
]
# Held out of training: the last N lines of these files (perplexity and validation loss).
HELD_OUT = {"text": 30, "qa_2wikimqa": 20}
# Self-distillation: the student in the KVLink layout learns the base model's full-prefill answers;
# with LoRA, a share of causal examples whose teacher is the base model itself keeps `full` mode's
# answers where they were (docs/TRAINING.md).
TEACHER_FILES = ["qa_nq", "qa_2wikimqa", "qa_hotpotqa", "qa_musique"]
TEACHER_KEYS = ["teacher:" + n for n in TEACHER_FILES]
DISTILL_MIXTURE = [("kvlink_distill", 0.8, TEACHER_KEYS, "kvlink"), ("causal_distill", 0.2, TEACHER_KEYS, "causal")]
TEACHER_LAYOUT_VERSION = 1  # scripts/train/make_teacher_data.py


def read_rendered(path):
    with open(path) as f:
        header = json.loads(f.readline())
        return header, [json.loads(line) for line in f]


def load_mixture(data_dir):
    files, fingerprint = {}, None
    for _, _, names, _ in MIXTURE:
        for name in names:
            if name in files:
                continue
            header, rows = read_rendered(os.path.join(data_dir, name + ".jsonl"))
            fingerprint = fingerprint or header["model_fingerprint"]
            if header["model_fingerprint"] != fingerprint:
                raise SystemExit(f"train: {name} was rendered with another model")
            files[name] = rows
    held = {name: files[name][-n:] for name, n in HELD_OUT.items()}
    for name, n in HELD_OUT.items():
        files[name] = files[name][:-n]
    return files, held, fingerprint


def load_teacher(teacher_dir, base_fp, val_per_set):
    """The teacher files, each split into held-out (its first val_per_set lines) and training lines.
    Refuses, in one line, files made with another model or layout version."""
    files, held = {}, {}
    for name in TEACHER_FILES:
        path = os.path.join(teacher_dir, name + ".jsonl")
        if not os.path.exists(path):
            continue
        header, rows = read_rendered(path)
        if "teacher" not in header or header.get("layout_version") != TEACHER_LAYOUT_VERSION:
            raise SystemExit(f"train: {path} is not teacher data of layout version {TEACHER_LAYOUT_VERSION} "
                             "(scripts/train/make_teacher_data.py)")
        if header["model_fingerprint"] != base_fp or header["teacher"]["model_fingerprint"] != base_fp:
            raise SystemExit(f"train: {path} holds a teacher of model {header['teacher']['model_fingerprint']} "
                             f"rendered for {header['model_fingerprint']}, --model is {base_fp}")
        held["teacher:" + name], files["teacher:" + name] = rows[:val_per_set], rows[val_per_set:]
    if not files:
        raise SystemExit(f"train: no teacher data in {teacher_dir}")
    return files, held


def mixture_for(objective, rank, full):
    """(component, weight, files, layout) rows of the objective; link-only training (rank 0) has no
    causal distillation share, since without LoRA `full` mode cannot move."""
    distill = [row for row in DISTILL_MIXTURE if rank > 0 or full or row[0] != "causal_distill"]
    if objective == "gold":
        return MIXTURE
    if objective == "distill":
        return distill
    return [(c, 0.5 * w, n, lay) for c, w, n, lay in MIXTURE] + [(c, 0.5 * w, n, lay) for c, w, n, lay in distill]


def pick_example(files, step, micro, rank, seed, mixture=MIXTURE):
    """The example for (step, micro-batch, rank): a deterministic function of those, so a resumed
    run sees the same stream."""
    rng = random.Random(f"{seed}/{step}/{micro}/{rank}")
    total = sum(w for _, w, _, _ in mixture)
    r, acc = rng.random() * total, 0.0
    for comp, weight, names, layout in mixture:
        acc += weight
        if r <= acc:
            break
    names = [n for n in names if files.get(n)]  # a teacher set not produced yet is left out
    sizes = [len(files[n]) for n in names]
    k = rng.randrange(sum(sizes))
    for n, s in zip(names, sizes):
        if k < s:
            return comp, layout, files[n][k]
        k -= s
    raise AssertionError


def lr_at(step, args):
    if step < args.warmup:
        return (step + 1) / args.warmup
    t = (step - args.warmup) / max(1, args.steps - args.warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


@torch.no_grad()
def validation_kl(model, held_teacher, args, device):
    """Mean KL(teacher || student) per answer token on held-out teacher examples in the KVLink layout,
    taking the sets in turn."""
    rows = [r for group in zip(*held_teacher.values()) for r in group][: args.val_examples]
    total, count = 0.0, 0
    for ex in rows:
        ex = km.cut_example(ex, args.docs_per_example, args.doc_tokens)
        _, n, kl, _ = km.distill_loss(model, ex, "kvlink", args.max_tokens, device, args.ce_weight)
        if n:
            total += kl * n
            count += n
    return total / count if count else None


@torch.no_grad()
def validation_loss(model, held, args, device):
    """Mean answer loss on held-out train-split QA in the KVLink layout."""
    total, count = 0.0, 0
    for ex in held["qa_2wikimqa"][: args.val_examples]:
        seq = km.build_sequence(ex, model.n_vocab, model.links_per_doc, model.max_docs, "kvlink", args.max_tokens)
        if seq is None:
            continue
        loss, n = km.sequence_loss(model, *seq, device)
        total += loss.item() * n
        count += n
    return total / count if count else None  # None: no held-out example fits --max-tokens


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="base GGUF")
    ap.add_argument("--data", help="rendered data directory (scripts/train/prepare.sh)")
    ap.add_argument("--out", required=True, help="run directory")
    ap.add_argument("--links-per-doc", type=int, default=5, help="K link tokens per document slot")
    ap.add_argument("--max-docs", type=int, default=20, help="S document slots")
    ap.add_argument("--rank", type=int, default=8, help="LoRA rank")
    ap.add_argument("--alpha", type=float, default=16.0, help="LoRA alpha (scale alpha/rank)")
    ap.add_argument("--full", action="store_true", help="train all parameters instead of LoRA")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--link-lr", type=float, default=1e-3, help="learning rate of the link embeddings")
    ap.add_argument("--steps", type=int, default=200, help="optimizer steps (cosine schedule length)")
    ap.add_argument("--accum", type=int, default=4, help="examples per optimizer step (per rank)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--max-tokens", type=int, default=2048, help="longest sequence trained on")
    ap.add_argument("--max-minutes", type=float, default=0, help="stop (and export) after this long")
    ap.add_argument("--val-every", type=int, default=25)
    ap.add_argument("--val-examples", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    ap.add_argument("--objective", choices=["gold", "distill", "mixed"], default="gold",
                    help="gold answers, self-distillation from the base model's full prefill, or both")
    ap.add_argument("--teacher", help="teacher data directory (scripts/train/make_teacher_data.py)")
    ap.add_argument("--ce-weight", type=float, default=0.5, help="distill: weight of the teacher tokens' cross-entropy")
    ap.add_argument("--val-per-set", type=int, default=16, help="distill: teacher lines held out per set")
    ap.add_argument("--docs-per-example", type=int, default=0,
                    help="distill: train on the first N documents of each example (0: all; the teacher is recomputed on the same cut)")
    ap.add_argument("--doc-tokens", type=int, default=0, help="distill: cut every document to its first N tokens (0: whole)")
    args = ap.parse_args()
    if args.objective != "gold" and not args.teacher:
        ap.error("--objective distill and mixed need --teacher DIR")
    if args.objective != "distill" and not args.data:
        ap.error("--objective gold and mixed need --data DIR")

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)

    base_fp = export.file_fingerprint(args.model)
    files, held, held_teacher = {}, {}, {}
    if args.objective != "distill":
        files, held, data_fp = load_mixture(args.data)
        if data_fp != base_fp:
            raise SystemExit(f"train: {args.data} was rendered with model {data_fp}, --model is {base_fp}")
    if args.objective != "gold":
        teacher_files, held_teacher = load_teacher(args.teacher, base_fp, args.val_per_set)
        files.update(teacher_files)
    mixture = [row for row in mixture_for(args.objective, args.rank, args.full)
               if sum(len(files.get(n, [])) for n in row[2]) > 0]
    if not mixture:
        raise SystemExit("train: no training lines (after holding out --val-per-set per teacher set)")
    model = km.KVLinkModel(km.load_base(args.model), args.links_per_doc, args.max_docs, args.rank, args.alpha,
                           args.full).to(device)
    link_params = [model.link_embd]
    other = [p for p in model.trainable_parameters() if p is not model.link_embd]
    opt = torch.optim.AdamW([{"params": other, "lr": args.lr, "weight_decay": 0.0},
                             {"params": link_params, "lr": args.link_lr, "weight_decay": 0.0}])
    ckpt_path = os.path.join(args.out, "checkpoint.pt")
    config = {k: getattr(args, k) for k in ("links_per_doc", "max_docs", "rank", "alpha", "full", "objective",
                                            "docs_per_example", "doc_tokens")}
    step = 0
    if os.path.exists(ckpt_path):
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        if {"objective": "gold", "docs_per_example": 0, "doc_tokens": 0, **state["config"]} != config:
            raise SystemExit(f"train: {ckpt_path} was made with {state['config']}, not {config}")
        model.load_state_dict(state["trainable"], strict=False)
        opt.load_state_dict(state["optimizer"])
        step = state["step"]
        if rank == 0:
            print(f"train: resumed at step {step}")

    def save():
        if rank != 0:
            return
        trainable = {k: v for k, v in model.state_dict().items()
                     if k == "link_embd" or "lora_" in k or args.full}
        tmp = ckpt_path + ".tmp"
        torch.save({"config": config, "trainable": trainable, "optimizer": opt.state_dict(), "step": step,
                    "base_fingerprint": base_fp}, tmp)
        os.replace(tmp, ckpt_path)

    log = open(os.path.join(args.out, "log.jsonl"), "a") if rank == 0 else None
    n_params = sum(p.numel() for p in model.trainable_parameters())
    if rank == 0:
        print(f"train: {n_params:,} trainable parameters on {device} x{world}, "
              f"{torch.get_num_threads()} threads; steps {step}..{args.steps}")
    start = time.time()
    def validate():
        if args.objective == "distill":
            return {"val_kl": validation_kl(model, held_teacher, args, device)}
        return {"val_loss": validation_loss(model, held, args, device)}

    if step == 0 and args.val_every and rank == 0:
        # The starting point of the validation curve: the base model with untrained link tokens.
        log.write(json.dumps({"step": 0, **validate()}) + "\n")
        log.flush()
    while step < args.steps:
        if args.max_minutes and (time.time() - start) / 60 > args.max_minutes:
            if rank == 0:
                print(f"train: --max-minutes reached at step {step}")
            break
        for i, g in enumerate(opt.param_groups):
            g["lr"] = (args.lr if i == 0 else args.link_lr) * lr_at(step, args)
        t0 = time.time()
        tokens, loss_sum, loss_tokens, comps, kl_sum = 0, 0.0, 0, {}, 0.0
        micro, taken = 0, 0
        while taken < args.accum:
            comp, layout, ex = pick_example(files, step, micro, rank, args.seed, mixture)
            micro += 1
            if comp.endswith("_distill"):
                ex = km.cut_example(ex, args.docs_per_example, args.doc_tokens)
                loss, n, kl, _ = km.distill_loss(model, ex, layout, args.max_tokens, device, args.ce_weight)
                n_tokens = km.example_tokens(ex)  # the student's layout, link tokens aside
            else:
                seq = km.build_sequence(ex, model.n_vocab, args.links_per_doc, args.max_docs, layout, args.max_tokens)
                loss, n = km.sequence_loss(model, *seq, device) if seq is not None else (None, 0)
                kl, n_tokens = None, len(seq[0]) if seq is not None else 0
            if loss is None:
                continue
            (loss / args.accum).backward()
            taken += 1
            tokens += n_tokens
            loss_sum += loss.item() * n
            kl_sum += (kl or 0.0) * n
            loss_tokens += n
            comps[comp] = comps.get(comp, 0) + 1
        if world > 1:
            # Every rank reduces every parameter in the same order; a parameter its examples did
            # not touch (link embeddings after a causal example) contributes zeros.
            for p in model.trainable_parameters():
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                dist.all_reduce(p.grad)
                p.grad /= world
        torch.nn.utils.clip_grad_norm_(model.trainable_parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        dt = time.time() - t0
        rec = {"step": step, "loss": loss_sum / max(1, loss_tokens), "kl": kl_sum / max(1, loss_tokens),
               "examples": taken * world, "tokens": tokens * world,
               "tokens_per_s": tokens * world / dt, "seconds": dt, "lr": opt.param_groups[0]["lr"],
               "elapsed_s": time.time() - start, "components": comps}
        if args.val_every and step % args.val_every == 0:
            rec.update(validate())
        if rank == 0:
            log.write(json.dumps(rec) + "\n")
            log.flush()
            val = rec.get("val_kl", rec.get("val_loss"))
            print(f"step {step}: loss {rec['loss']:.3f} {rec['tokens_per_s']:.0f} tok/s"
                  + (f" val {val:.3f}" if val is not None else ""), flush=True)
        if step % 10 == 0:
            save()
    save()
    if rank == 0:
        if not args.full:
            export.write_adapter(model, args.model, os.path.join(args.out, "adapter.gguf"))
            print(f"train: wrote {os.path.join(args.out, 'adapter.gguf')}")
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
