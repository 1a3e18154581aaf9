"""Turns the teacher run (scripts/train/make_teacher.sh: the base model's own greedy `full`-mode
answers on the training sets) into training data for self-distillation (docs/TRAINING.md): for each
set, the training examples with the teacher's answer as their only answer, rendered through
kvlink-render (the engine's prompt layout), with a header that says where the targets came from.

    python scripts/train/make_teacher_data.py --model BASE.gguf --teacher results/teacher --out DIR

DIR/<set>.jsonl: kvlink-render's lines (opening, chunks, suffix, answer = the teacher's tokens and the
end of turn), header {"model_fingerprint", "n_vocab", "teacher": {...}, "layout_version"}. Answers cut
off at the token limit (no end of turn) are left out. A teacher run made with another model is refused.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export  # noqa: E402

# The layout the rendered lines describe (kvlink-render's QA line: opening, chunks, suffix, answer).
# train.py refuses teacher data of another version.
LAYOUT_VERSION = 1
SETS = ["qa_nq", "qa_2wikimqa", "qa_hotpotqa", "qa_musique"]


def teacher_examples(teacher_dir, data_path, n_predict):
    """The training examples answered by the teacher, in file order, answers replaced by its answer
    (those cut off at n_predict tokens left out)."""
    preds = {}
    for line in open(os.path.join(teacher_dir, "predictions.jsonl")):
        try:
            p = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut off by an interrupted run
        if p["mode"] == "full" and p["n_generated"] < n_predict and p["prediction"].strip():
            preds[p["id"]] = p
    out = []
    for line in open(data_path):
        if not line.strip():
            continue
        ex = json.loads(line)
        if ex.get("id") in preds:
            ex["answers"] = [preds[ex["id"]]["prediction"].strip()]
            out.append(ex)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--teacher", required=True, help="make_teacher.sh's output folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default="../shared/data/train")
    ap.add_argument("--render", default="build/bin/kvlink-render")
    a = ap.parse_args()
    if "eval" in os.path.normpath(a.data).split(os.sep):
        raise SystemExit("make_teacher_data: teacher data comes from training sets only")
    fp = export.file_fingerprint(a.model)
    os.makedirs(a.out, exist_ok=True)
    for s in SETS:
        folder = os.path.join(a.teacher, s)
        if not os.path.exists(os.path.join(folder, "predictions.jsonl")):
            continue
        config = json.load(open(os.path.join(folder, "config.json")))
        if config["model_fingerprint"] != fp or config.get("adapter"):
            raise SystemExit(f"make_teacher_data: {folder} was answered by model {config['model_fingerprint']}"
                             f"{' with an adapter' if config.get('adapter') else ''}, not the base model {fp}")
        examples = teacher_examples(folder, os.path.join(a.data, s + ".jsonl"), config["n_predict"])
        with tempfile.TemporaryDirectory() as tmp:
            src, rendered = os.path.join(tmp, "teacher.jsonl"), os.path.join(tmp, "rendered.jsonl")
            with open(src, "w") as f:
                for ex in examples:
                    f.write(json.dumps(ex) + "\n")
            subprocess.run([a.render, "-m", a.model, "--data", src, "--out", rendered], check=True,
                           stdout=subprocess.DEVNULL)
            lines = open(rendered).read().splitlines()
        header = json.loads(lines[0])
        header["teacher"] = {"mode": "full", "n_predict": config["n_predict"], "model_fingerprint": fp,
                             "source": os.path.join(folder, "predictions.jsonl")}
        header["layout_version"] = LAYOUT_VERSION
        header["source"] = os.path.join(a.data, s + ".jsonl")
        tmp_out = os.path.join(a.out, s + ".jsonl.tmp")
        with open(tmp_out, "w") as f:
            f.write(json.dumps(header) + "\n")
            for line in lines[1:]:
                f.write(line + "\n")
        os.replace(tmp_out, os.path.join(a.out, s + ".jsonl"))
        print(f"make_teacher_data: {s}: {len(lines) - 1} examples")


if __name__ == "__main__":
    main()
