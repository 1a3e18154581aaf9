"""Export a trained KVLink model as an adapter GGUF (link-token embeddings + LoRA tensors + kvlink.*
metadata; docs/LINK_TOKENS.md) or as a merged full GGUF.

    python scripts/train/export.py --model BASE.gguf --checkpoint DIR/checkpoint.pt --adapter OUT.gguf
    python scripts/train/export.py --model BASE.gguf --checkpoint DIR/checkpoint.pt --merged OUT.gguf
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvlink_model as km  # noqa: E402


def file_fingerprint(path):
    """XXH3-64 of the whole file, as model/fingerprint.cpp computes it (16 lower-case hex digits)."""
    import xxhash

    h = xxhash.xxh3_64()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()


def lora_tensors(model):
    """(name, array) pairs of the adapter's LoRA tensors in the GGUF layout."""
    out = []
    for name, mod in model.lora.items():
        a = mod.lora_a.detach().float().cpu()
        b = (mod.lora_b.detach().float() * mod.scale).cpu()  # the scale is folded into B
        heads = km.rows_permutation_heads(name, model)
        if heads is not None:
            b = km.hf_to_gguf_rows(b, heads)
        out.append((f"{name}.weight.lora_a", a.numpy().astype(np.float16)))
        out.append((f"{name}.weight.lora_b", b.numpy().astype(np.float16)))
    return out


def write_adapter(model, base_path, out_path):
    import gguf

    if model.full:
        raise SystemExit("export: an all-parameter model has no adapter form; use --merged")
    if model.base.config.model_type != "llama":
        raise SystemExit("export: only llama-architecture bases are supported (q/k row order)")
    tmp = out_path + ".tmp"
    w = gguf.GGUFWriter(tmp, "llama")
    w.add_string("general.type", "adapter")
    w.add_string("adapter.type", "lora")
    w.add_float32("adapter.lora.alpha", float(model.rank))  # scale folded into lora_b: alpha / r = 1
    w.add_uint32("kvlink.version", 1)
    w.add_uint32("kvlink.link_tokens_per_doc", model.links_per_doc)
    w.add_uint32("kvlink.max_docs", model.max_docs)
    n_link = model.links_per_doc * model.max_docs
    w.add_array("kvlink.link_token_ids", [model.n_vocab + i for i in range(n_link)])
    w.add_string("kvlink.base_fingerprint", file_fingerprint(base_path))
    w.add_tensor("kvlink.link_embd", model.link_embd.detach().float().cpu().numpy().astype(np.float32))
    for name, arr in lora_tensors(model):
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, out_path)


def load_checkpoint(base_path, checkpoint):
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    cfg = state["config"]
    base = km.load_base(base_path)
    model = km.KVLinkModel(base, cfg["links_per_doc"], cfg["max_docs"], cfg["rank"], cfg["alpha"], cfg["full"])
    missing = model.load_state_dict(state["trainable"], strict=False)
    if missing.unexpected_keys:
        raise SystemExit(f"export: checkpoint has unknown tensors {missing.unexpected_keys[:3]}")
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="base GGUF the checkpoint was trained on")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--adapter", help="write the adapter GGUF here")
    ap.add_argument("--merged", help="write a merged full GGUF here")
    args = ap.parse_args()
    if not args.adapter and not args.merged:
        raise SystemExit("export: give --adapter and/or --merged")
    model = load_checkpoint(args.model, args.checkpoint)
    if args.adapter:
        write_adapter(model, args.model, args.adapter)
        print(f"export: adapter {args.adapter} ({os.path.getsize(args.adapter) / 1e6:.1f} MB)")
    if args.merged:
        import export_merged

        export_merged.write_merged(model, args.model, args.merged)
        print(f"export: merged model {args.merged} ({os.path.getsize(args.merged) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
