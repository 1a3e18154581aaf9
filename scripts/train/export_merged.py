"""A merged full GGUF: the base GGUF with each LoRA pair added into its weight (written as F16), the
token embedding extended by the link-token rows, the vocabulary by one control token per link token
("<|kvlink_link_I_O|>", slot I, link O), and the kvlink.* keys (docs/LINK_TOKENS.md). Every other
tensor keeps its bytes and type; every other key its value. The result is an ordinary GGUF that other
readers load like the base model (the link tokens are plain control tokens to them).

Used by export.py --merged (needed for all-parameter training, which has no adapter form).
"""
import os

import numpy as np

import kvlink_model as km


def hf_name(gguf_name):
    """The Hugging Face parameter behind a GGUF tensor name (llama), or None."""
    if gguf_name == "token_embd.weight":
        return "model.embed_tokens.weight"
    if gguf_name == "output_norm.weight":
        return "model.norm.weight"
    if gguf_name == "output.weight":
        return "lm_head.weight"
    parts = gguf_name.split(".")
    if parts[0] != "blk":
        return None
    names = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}
    names.update({v: k for k, v in km.LORA_TARGETS.items()})
    return f"model.layers.{parts[1]}.{names[parts[2]]}.weight" if parts[2] in names else None


def write_merged(model, base_path, out_path):
    import gguf
    from gguf.quants import dequantize

    r = gguf.GGUFReader(base_path)
    arch = r.fields["general.architecture"].contents()
    if arch != "llama":
        raise SystemExit("export: only llama-architecture bases are supported (q/k row order)")
    n_link = model.links_per_doc * model.max_docs
    n_vocab = model.n_vocab
    tmp = out_path + ".tmp"
    w = gguf.GGUFWriter(tmp, arch)
    skip = {"general.architecture", "GGUF.version", "GGUF.tensor_count", "GGUF.kv_count"}
    for key, field in r.fields.items():
        if key in skip or key.startswith("kvlink."):
            continue
        value = field.contents()
        vtype = field.types[0]
        sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
        if key == "tokenizer.ggml.tokens":
            value = list(value) + [f"<|kvlink_link_{i // model.links_per_doc}_{i % model.links_per_doc}|>"
                                   for i in range(n_link)]
        elif key == "tokenizer.ggml.token_type":
            value = list(value) + [int(gguf.TokenType.CONTROL)] * n_link
        elif key == "tokenizer.ggml.scores":
            value = list(value) + [0.0] * n_link
        elif key == f"{arch}.vocab_size":
            value = n_vocab + n_link
        elif key == "general.file_type":
            continue  # the file now mixes types
        w.add_key_value(key, value, vtype, sub)
    w.add_uint32("kvlink.version", 1)
    w.add_uint32("kvlink.link_tokens_per_doc", model.links_per_doc)
    w.add_uint32("kvlink.max_docs", model.max_docs)
    w.add_array("kvlink.link_token_ids", [n_vocab + i for i in range(n_link)])

    deltas = {}
    if model.full:
        state = {k: v.detach().float().cpu() for k, v in model.base.state_dict().items()}
    for name, mod in model.lora.items():
        d = mod.delta().detach().float().cpu()
        heads = km.rows_permutation_heads(name, model)
        if heads is not None:
            d = km.hf_to_gguf_rows(d, heads)
        deltas[f"{name}.weight"] = d.numpy()
    for t in r.tensors:
        ne = [int(x) for x in t.shape]
        if t.name == "token_embd.weight":
            table = dequantize(t.data, t.tensor_type).reshape(ne[1], ne[0])
            if model.full:
                table = state["model.embed_tokens.weight"].numpy()
            link = model.link_embd.detach().float().cpu().numpy()
            w.add_tensor(t.name, np.concatenate([table, link]).astype(np.float16))
        elif model.full and hf_name(t.name) in state:
            weight = state[hf_name(t.name)]
            heads = km.rows_permutation_heads(t.name.rsplit(".", 1)[0], model)
            if heads is not None:
                weight = km.hf_to_gguf_rows(weight, heads)
            weight = weight.numpy()
            w.add_tensor(t.name, weight.astype(np.float16 if weight.ndim == 2 else np.float32))
        elif t.name in deltas:
            weight = dequantize(t.data, t.tensor_type).reshape(ne[1], ne[0]) + deltas[t.name]
            w.add_tensor(t.name, weight.astype(np.float16))
        else:
            w.add_tensor(t.name, t.data, raw_shape=list(t.data.shape), raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, out_path)
