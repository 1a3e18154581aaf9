#!/usr/bin/env python3
"""Ad-hoc check of a logits file written by `kvlink-query --logits-out FILE` against transformers.

The prompt is tokenised the way kvlink-query does it (special-token text such as <|im_start|> becomes
the special ids; no BOS for SmolLM2) with the reference tokenizer of make_fixtures.py (SmolLM2's
pre-tokenizer rebuilt from the GGUF), then run through transformers' float32 model loaded from the
same GGUF. Prints the prompt length, max |diff|, argmax agreement and the top-5 of both.

  # let this script run kvlink-query itself:
  .venv/bin/python scripts/reference/check_logits.py --model models/SmolLM2-135M-Instruct.Q4_1.gguf \\
      --kvlink build/bin/kvlink-query --prompt "The capital of France is"
  # or compare a file written earlier (--chat: the prompt is wrapped like kvlink-query --chat):
  build/bin/kvlink-query -m models/SmolLM2-135M-Instruct.Q4_1.gguf --chat -p "Hi" -n 1 --logits-out /tmp/l.bin
  .venv/bin/python scripts/reference/check_logits.py --logits /tmp/l.bin --chat --prompt "Hi"

Exit status 0 when the argmax agrees and max |diff| <= --tol, 1 otherwise. kvlink-query's default KV
cache is f16 (max |diff| about 1e-2); pass --kv-cache-type f32 for the tight check (about 5e-5).
"""
import argparse
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

from make_fixtures import build_reference_tokenizer, gguf_metadata, load_hf_tokenizer  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--logits", help="float32 little-endian logits file from kvlink-query --logits-out")
    ap.add_argument("--kvlink", help="path of kvlink-query: run it to produce the logits file")
    ap.add_argument("--kv-cache-type", default=None, help="passed to kvlink-query (f16 or f32)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt", help="prompt text")
    src.add_argument("--prompt-file", help="read the prompt text from a file")
    ap.add_argument("--chat", action="store_true", help="wrap the prompt in the chat template (as kvlink-query --chat)")
    ap.add_argument("--system", default=None, help="system message for --chat (default: the template's)")
    ap.add_argument("--tol", type=float, default=None,
                    help="max |diff| accepted (default 2e-3 with --kv-cache-type f32, else 3e-2: an f16 KV cache "
                    "alone moves logits by about 1e-2)")
    args = ap.parse_args()
    if not args.logits and not args.kvlink:
        ap.error("give --logits FILE or --kvlink BINARY")

    prompt = args.prompt
    if args.prompt_file:
        with open(args.prompt_file, encoding="utf-8") as f:
            prompt = f.read()
    model_dir, name = os.path.split(os.path.abspath(args.model))
    ref = build_reference_tokenizer(gguf_metadata(args.model))
    _, hf_tok = load_hf_tokenizer(model_dir, name)
    text = prompt
    if args.chat:
        messages = ([{"role": "system", "content": args.system}] if args.system else []) + [
            {"role": "user", "content": prompt}]
        text = hf_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = ref.encode(text, add_special_tokens=False).ids

    logits_path = args.logits
    if args.kvlink:
        if not logits_path:
            logits_path = os.path.join(tempfile.mkdtemp(prefix="kvlink-logits-"), "logits.bin")
        cmd = [args.kvlink, "-m", args.model, "-p", prompt, "-n", "1", "--temp", "0", "--logits-out", logits_path]
        if args.chat:
            cmd.append("--chat")
            if args.system:
                cmd += ["--system", args.system]
        if args.kv_cache_type:
            cmd += ["--kv-cache-type", args.kv_cache_type]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    ours = np.fromfile(logits_path, dtype="<f4")

    torch.set_num_threads(os.cpu_count() or 1)
    model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=name, dtype=torch.float32).eval()
    with torch.no_grad():
        theirs = model(torch.tensor([ids])).logits[0, -1].float().numpy()
    if ours.shape != theirs.shape:
        print(f"size mismatch: {logits_path} holds {ours.size} floats, the vocabulary has {theirs.size}")
        return 1
    tol = args.tol if args.tol is not None else (2e-3 if args.kv_cache_type == "f32" else 3e-2)
    diff = np.abs(ours - theirs)
    a, b = int(ours.argmax()), int(theirs.argmax())
    print(f"prompt tokens: {len(ids)}")
    print(f"max |diff|: {diff.max():.6g} at id {int(diff.argmax())}; mean |diff|: {diff.mean():.3g}")
    print(f"argmax: kvlink {a} {ref.id_to_token(a)!r}, transformers {b} {ref.id_to_token(b)!r} -> "
          f"{'agree' if a == b else 'DISAGREE'}")
    for label, v in (("kvlink", ours), ("transformers", theirs)):
        top = np.argsort(-v)[:5]
        print(f"top-5 {label:>12}: " + ", ".join(f"{int(i)}:{v[i]:.4f}" for i in top))
    ok = a == b and diff.max() <= tol
    print(f"{'OK' if ok else 'FAIL'} (tolerance {tol:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
