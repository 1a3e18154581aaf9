"""The model side of KVLink fine-tuning: the base GGUF loaded through Hugging Face transformers,
link-token embeddings, low-rank adapters, the KVLink segment mask, and the mapping between the Hugging
Face parameter layout and the GGUF tensors the C++ engine reads.

A training sequence (see `build_sequence`) holds the opening, each document chunk followed by its K
link tokens, the question suffix and the answer. Link token j of chunk slot i has id
n_vocab + i*K + j: new ids after the base vocabulary, whose embedding rows are trained here and
exported in the adapter (kvlink.link_embd). Logits are only ever taken over the base vocabulary, as
in the engine, where link tokens are never sampled.
"""
import contextlib
import math
import os

import numpy as np
import torch
import torch.nn as nn

# Hugging Face module name -> GGUF tensor name (llama.cpp conventions, as model/llama_model.cpp).
LORA_TARGETS = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def load_base(gguf_path, dtype=torch.float32):
    """The base model from its GGUF (transformers dequantises the weights to `dtype`)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        os.path.dirname(os.path.abspath(gguf_path)), gguf_file=os.path.basename(gguf_path), dtype=dtype,
        attn_implementation="sdpa")
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class LoRALinear(nn.Module):
    """y = W x (+ b) + scale * B (A x); W frozen. B starts at zero, so training starts at the base."""

    def __init__(self, base, rank, alpha):
        super().__init__()
        self.base = base
        self.rank = rank
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features, dtype=base.weight.dtype))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank, dtype=base.weight.dtype))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.enabled = True  # False: the base layer alone (the distillation teacher)

    def forward(self, x):
        if not self.enabled:
            return self.base(x)
        return self.base(x) + (x @ self.lora_a.t() @ self.lora_b.t()) * self.scale

    def delta(self):
        """The weight change scale * B A, in the Hugging Face layout [out, in]."""
        return (self.lora_b @ self.lora_a) * self.scale


class KVLinkModel(nn.Module):
    """The base model plus link-token embeddings and (optionally) LoRA adapters."""

    def __init__(self, base, links_per_doc=5, max_docs=20, rank=8, alpha=16.0, full=False):
        super().__init__()
        self.base = base
        cfg = base.config
        self.n_vocab = cfg.vocab_size
        self.n_head = cfg.num_attention_heads
        self.n_head_kv = cfg.num_key_value_heads
        self.links_per_doc = links_per_doc
        self.max_docs = max_docs
        self.rank = rank if not full else 0
        self.alpha = alpha
        self.full = full
        emb = base.get_input_embeddings().weight
        n_link = links_per_doc * max_docs
        # Start every link token at the mean embedding plus a little noise, so they begin as
        # "average" tokens that are distinct per slot.
        g = torch.Generator().manual_seed(0)
        init = emb.detach().mean(0, keepdim=True) + 0.02 * emb.detach().std() * torch.randn(
            n_link, emb.shape[1], generator=g, dtype=emb.dtype)
        self.link_embd = nn.Parameter(init.clone())
        self.lora = {}
        if full:
            for p in base.parameters():
                p.requires_grad_(True)
        elif rank > 0:
            for li, layer in enumerate(base.model.layers):
                for hf_name, gguf_name in LORA_TARGETS.items():
                    parent_name, child = hf_name.split(".")
                    parent = getattr(layer, parent_name)
                    wrapped = LoRALinear(getattr(parent, child), rank, alpha)
                    setattr(parent, child, wrapped)
                    self.lora[f"blk.{li}.{gguf_name}"] = wrapped

    def trainable_parameters(self):
        return [p for p in self.parameters() if p.requires_grad]

    @contextlib.contextmanager
    def base_only(self):
        """The base model: LoRA switched off (link embeddings are only read for link ids, which the
        teacher's causal layout has none of). Not for --full, whose base weights are the ones trained."""
        if self.full:
            raise ValueError("a fully fine-tuned model has no base to distil from in the same step")
        for mod in self.lora.values():
            mod.enabled = False
        try:
            yield
        finally:
            for mod in self.lora.values():
                mod.enabled = True

    def embed(self, ids):
        """Token embeddings; ids >= n_vocab are link tokens."""
        table = self.base.get_input_embeddings()
        is_link = ids >= self.n_vocab
        x = table(ids.clamp(max=self.n_vocab - 1))
        if bool(is_link.any()):
            link = self.link_embd[(ids - self.n_vocab).clamp(min=0)]
            x = torch.where(is_link.unsqueeze(-1), link, x)
        return x

    def hidden(self, ids, mask):
        """Final hidden states [T, d] for one sequence under `mask` ([T, T] bool, True = visible)."""
        n = ids.shape[0]
        pos = torch.arange(n, device=ids.device).unsqueeze(0)
        out = self.base.model(inputs_embeds=self.embed(ids).unsqueeze(0), attention_mask=mask[None, None],
                              position_ids=pos, use_cache=False)
        return out.last_hidden_state[0]

    def logits_at(self, hidden, rows):
        """Logits over the base vocabulary at the given rows (the lm_head on those rows only)."""
        return self.base.lm_head(hidden[rows])


def causal_mask(n, device=None):
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


def segment_mask(segments, device=None):
    """KVLink's mask (docs/METHOD.md): a token in document chunk c sees only the earlier tokens of c;
    every other token (opening, link tokens, question, answer) sees every earlier token.
    `segments[t]` is the chunk index of token t, or -1 for the others."""
    seg = torch.tensor(segments, device=device)
    n = seg.shape[0]
    m = causal_mask(n, device)
    in_chunk = seg >= 0
    same = seg.unsqueeze(1) == seg.unsqueeze(0)
    # rows in a chunk: only same-chunk columns
    return torch.where(in_chunk.unsqueeze(1), m & same, m)


def link_ids(n_vocab, links_per_doc, slot):
    return [n_vocab + slot * links_per_doc + o for o in range(links_per_doc)]


def build_sequence(example, n_vocab, links_per_doc, max_docs, layout, max_tokens=None):
    """One rendered example (kvlink-render's JSON) as (ids, segments, loss_mask, kvlink).
    layout "kvlink": link tokens after each chunk and the segment mask; "causal": the same tokens
    without link tokens under ordinary causal attention (full prefill). Returns None when the
    example does not fit (too many chunks for the slots, or more than max_tokens tokens)."""
    ids, seg, loss = [], [], []

    def put(tokens, s, l):
        ids.extend(tokens)
        seg.extend([s] * len(tokens))
        loss.extend([l] * len(tokens))

    kind = example["kind"]
    if kind == "qa":
        chunks = example["chunks"]
        if layout == "kvlink" and len(chunks) > max_docs:
            return None
        put(example["opening"], -1, False)
        for i, c in enumerate(chunks):
            put(c, i if layout == "kvlink" else -1, False)
            if layout == "kvlink":
                put(link_ids(n_vocab, links_per_doc, i), -1, False)
        put(example["suffix"], -1, False)
        put(example["answer"], -1, True)
    elif kind == "chat":
        for s in example["segments"]:
            put(s["tokens"], -1, bool(s["loss"]))
    elif kind == "text":
        put(example["tokens"], -1, True)
    else:
        raise ValueError(f"unknown kind {kind}")
    if max_tokens and len(ids) > max_tokens:
        if kind != "text":
            return None
        ids, seg, loss = ids[:max_tokens], seg[:max_tokens], loss[:max_tokens]
    return ids, seg, loss, layout == "kvlink" and kind == "qa"


def sequence_loss(model, ids, seg, loss_mask, use_segments, device):
    """Mean next-token cross-entropy over the tokens marked in loss_mask (each predicted from the
    position before it) and the number of such tokens."""
    ids_t = torch.tensor(ids, device=device)
    mask = segment_mask(seg, device) if use_segments else causal_mask(len(ids), device)
    targets = [t for t in range(1, len(ids)) if loss_mask[t]]
    if not targets:
        return None, 0
    h = model.hidden(ids_t, mask)
    rows = torch.tensor([t - 1 for t in targets], device=device)
    logits = model.logits_at(h, rows).float()
    gold = ids_t[torch.tensor(targets, device=device)]
    return nn.functional.cross_entropy(logits, gold), len(targets)


def cut_example(example, n_docs=0, doc_tokens=0):
    """The example with only its first n_docs chunks (0: all), each cut to doc_tokens tokens (0: whole):
    a smaller layout of the same kind, for training at the size that gives the most examples per hour.
    The teacher's answer tokens stay; distill_loss recomputes the teacher's distribution on the cut."""
    chunks = example["chunks"][:n_docs] if n_docs else example["chunks"]
    if doc_tokens:
        chunks = [c[:doc_tokens] for c in chunks]
    return {**example, "chunks": chunks}


def example_tokens(example):
    """Tokens of a rendered QA example's layout: opening, chunks, suffix and answer."""
    return len(example["opening"]) + sum(len(c) for c in example["chunks"]) + len(example["suffix"]) + len(example["answer"])


def answer_logits(model, ids, seg, loss_mask, use_segments, device):
    """Logits at the positions that predict the loss-marked tokens, and those tokens."""
    ids_t = torch.tensor(ids, device=device)
    mask = segment_mask(seg, device) if use_segments else causal_mask(len(ids), device)
    targets = [t for t in range(1, len(ids)) if loss_mask[t]]
    if not targets:
        return None, None
    h = model.hidden(ids_t, mask)
    rows = torch.tensor([t - 1 for t in targets], device=device)
    return model.logits_at(h, rows).float(), ids_t[torch.tensor(targets, device=device)]


def distill_loss(model, example, layout, max_tokens, device, ce_weight=0.5):
    """Self-distillation on one teacher example: the student (the model with its adapter, in `layout`:
    "kvlink" = chunks apart, link tokens, segment mask; "causal" = ordinary prefill) against the
    teacher (the base model, no adapter, ordinary causal prefill of the same tokens without link
    tokens) on the answer tokens. Returns (loss, n tokens, KL, CE): loss = KL(teacher || student), the
    mean over answer positions of the full-vocabulary KL, plus ce_weight x the cross-entropy of the
    teacher's tokens; (None, 0, ..) when the example does not fit."""
    student = build_sequence(example, model.n_vocab, model.links_per_doc, model.max_docs, layout, max_tokens)
    teacher = build_sequence(example, model.n_vocab, model.links_per_doc, model.max_docs, "causal", max_tokens)
    if student is None or teacher is None:
        return None, 0, None, None
    with torch.no_grad(), model.base_only():
        t_logits, t_gold = answer_logits(model, teacher[0], teacher[1], teacher[2], False, device)
    s_logits, s_gold = answer_logits(model, *student, device)
    if s_logits is None or t_logits is None or not torch.equal(s_gold, t_gold):
        return None, 0, None, None
    log_s = nn.functional.log_softmax(s_logits, -1)
    log_t = nn.functional.log_softmax(t_logits, -1)
    kl = (log_t.exp() * (log_t - log_s)).sum(-1).mean()
    ce = nn.functional.nll_loss(log_s, s_gold)
    return kl + ce_weight * ce, len(s_gold), kl.item(), ce.item()


# GGUF stores a llama model's q and k rows permuted for its rotary layout (adjacent pairs), where
# Hugging Face uses rotate-half; transformers un-permutes them on load. Exported q/k weights and
# LoRA B matrices (whose rows are output features) must be permuted back.
def hf_to_gguf_rows(w, n_head):
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_to_hf_rows(w, n_head):
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def rows_permutation_heads(gguf_name, model):
    """The head count for the q/k row permutation, or None for tensors that are not permuted."""
    if gguf_name.endswith("attn_q"):
        return model.n_head
    if gguf_name.endswith("attn_k"):
        return model.n_head_kv
    return None


def read_adapter(path):
    import gguf

    r = gguf.GGUFReader(path)
    keys = ("kvlink.link_tokens_per_doc", "kvlink.max_docs", "kvlink.link_token_ids", "kvlink.base_fingerprint")
    meta = {k: r.fields[k].contents() for k in keys}
    tensors = {t.name: np.array(t.data, dtype=np.float32) for t in r.tensors}
    return meta, tensors


def apply_adapter(base, meta, tensors):
    """A KVLinkModel carrying exactly the adapter's values (scale already folded into lora_b)."""
    k, s = int(meta["kvlink.link_tokens_per_doc"]), int(meta["kvlink.max_docs"])
    ranks = {v.shape[0] for n, v in tensors.items() if n.endswith(".lora_a")}
    if len(ranks) != 1:
        raise SystemExit(f"crosscheck: adapter ranks {ranks}")
    rank = ranks.pop()
    model = KVLinkModel(base, k, s, rank=rank, alpha=float(rank))
    with torch.no_grad():
        model.link_embd.copy_(torch.from_numpy(tensors["kvlink.link_embd"]))
        for name, mod in model.lora.items():
            a = torch.from_numpy(tensors[f"{name}.weight.lora_a"])
            b = torch.from_numpy(tensors[f"{name}.weight.lora_b"])
            heads = rows_permutation_heads(name, model)
            if heads is not None:
                b = gguf_to_hf_rows(b, heads)
            mod.lora_a.copy_(a)
            mod.lora_b.copy_(b)
    return model
