"""Fixture for the adapter cross-check test (tests/test_adapter_crosscheck.cpp): the Python model
(Hugging Face transformers on the base GGUF, with the adapter's LoRA tensors and link embeddings read
back from the exported adapter GGUF) under the KVLink segment mask, on prompts with 2 and 5
documents. The C++ test runs the engine's kvlink path (chunks encoded alone, cached, re-positioned,
link tokens spliced in) on the same base + adapter and compares the logits.

    .venv/bin/python scripts/train/make_crosscheck_fixture.py --model BASE.gguf --adapter ADAPTER.gguf

Token layouts come from kvlink-render (the engine's prompt code); the documents are paragraphs of
examples/docs. Writes tests/fixtures/crosscheck_adapter.json and one .bin (float32 logits of the last
position over the base vocabulary) per case.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export  # noqa: E402
import kvlink_model as km  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def documents():
    paras = []
    for path in sorted(glob.glob(os.path.join(ROOT, "examples/docs/**/*.md"), recursive=True)):
        text = open(path).read()
        title = os.path.splitext(os.path.basename(path))[0].replace("_", " ").title()
        for p in text.split("\n\n"):
            p = p.strip()
            if p and not p.startswith("#"):
                paras.append({"title": title, "text": p})
    return paras


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--render", default=os.path.join(ROOT, "build/bin/kvlink-render"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests/fixtures"))
    args = ap.parse_args()

    meta, tensors = km.read_adapter(args.adapter)
    base_fp = export.file_fingerprint(args.model)
    if meta["kvlink.base_fingerprint"] != base_fp:
        raise SystemExit("crosscheck: the adapter was made for another base model")
    paras = documents()
    if len(paras) < 5:
        raise SystemExit("crosscheck: examples/docs has fewer than 5 paragraphs")
    cases = [("docs2", paras[:2], "Who founded the company that built the lighthouse?"),
             ("docs5", paras[:5], "Which of these places is the oldest?")]
    with tempfile.TemporaryDirectory() as tmp:
        src, rendered = os.path.join(tmp, "in.jsonl"), os.path.join(tmp, "out.jsonl")
        with open(src, "w") as f:
            for name, docs, q in cases:
                f.write(json.dumps({"id": name, "question": q, "answers": ["-"], "documents": docs}) + "\n")
        subprocess.run([args.render, "-m", args.model, "--data", src, "--out", rendered], check=True)
        with open(rendered) as f:
            f.readline()
            layouts = [json.loads(line) for line in f]

    model = km.apply_adapter(km.load_base(args.model), meta, tensors)
    model.eval()
    out_cases = []
    for (name, docs, question), lay in zip(cases, layouts):
        links = [km.link_ids(model.n_vocab, model.links_per_doc, i) for i in range(len(lay["chunks"]))]
        ids, seg = list(lay["opening"]), [-1] * len(lay["opening"])
        for i, (c, lk) in enumerate(zip(lay["chunks"], links)):
            ids += c + lk
            seg += [i] * len(c) + [-1] * len(lk)
        ids += lay["suffix"]
        seg += [-1] * len(lay["suffix"])
        with torch.no_grad():
            h = model.hidden(torch.tensor(ids), km.segment_mask(seg))
            logits = model.logits_at(h, torch.tensor([len(ids) - 1]))[0].numpy().astype(np.float32)
        fname = f"crosscheck_adapter_{name}.bin"
        logits.tofile(os.path.join(args.out, fname))
        out_cases.append({"name": name, "question": question, "documents": docs, "opening": lay["opening"],
                          "chunks": lay["chunks"], "links": links, "suffix": lay["suffix"], "logits": fname,
                          "argmax": int(logits.argmax())})
        print(f"crosscheck: {name}: {len(ids)} tokens, argmax {int(logits.argmax())}")
    fixture = {"adapter": os.path.relpath(os.path.abspath(args.adapter), ROOT),
               "adapter_fingerprint": export.file_fingerprint(args.adapter), "base_fingerprint": base_fp,
               "n_vocab": model.n_vocab, "cases": out_cases}
    with open(os.path.join(args.out, "crosscheck_adapter.json"), "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
