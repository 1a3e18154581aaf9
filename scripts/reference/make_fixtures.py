#!/usr/bin/env python3
"""Writes the reference fixtures the C++ tests compare against, computed by Hugging Face
transformers from the same GGUF file (weights dequantised to float32 by transformers' GGUF loader).

Outputs (in --out):
  tokenizer_smollm2.json   token ids of >= 200 varied strings
  chat_smollm2.json        chat-template renderings and their ids
  logits_smollm2.json      prompts, prompt ids, top logits and 32-token greedy continuations
  logits_smollm2_<name>.bin  last prompt position's logits, float32 little-endian, vocabulary order

Tokenizer note: transformers 5.23 only knows a handful of tokenizer.ggml.pre values
(GGUF_PRE_TOKENIZER_SPLITS in transformers/integrations/gguf/gguf_tokenizer_mapping.py); "smollm" is
not one of them, so the tokenizer it converts from this GGUF gets the plain GPT-2 pre-tokenizer
ByteLevel(use_regex=True). SmolLM2's own tokenizer.json (and llama.cpp's "smollm" pre-tokenizer)
first split every digit off on its own: Sequence[Digits(individual_digits=True),
ByteLevel(add_prefix_space=False, use_regex=True)]. The two differ wherever whitespace runs meet a
digit ("Step\n\n7", "  42"). The reference ids therefore come from a tokenizer built here with the
`tokenizers` library straight from the GGUF's vocabulary and merges with SmolLM2's pre-tokenizer;
the transformers tokenizer with that pre-tokenizer restored must give identical ids on every case
(asserted), and the cases where unpatched transformers differs are recorded in the fixture.
"""
import argparse
import hashlib
import json
import os
import random
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import gguf  # noqa: E402
import numpy as np  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def smollm_pre_tokenizer():
    return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])


def gguf_metadata(path):
    """Tokenizer fields of the GGUF, read with the gguf package (independently of transformers)."""
    reader = gguf.GGUFReader(path)
    meta = {k: reader.fields[k].contents() for k in reader.fields if k.startswith("tokenizer.")}
    assert meta["tokenizer.ggml.model"] == "gpt2", meta["tokenizer.ggml.model"]
    return meta


def build_reference_tokenizer(meta):
    """SmolLM2's tokenizer rebuilt from the GGUF vocabulary and merges with the `tokenizers` library."""
    tokens = meta["tokenizer.ggml.tokens"]
    types = meta["tokenizer.ggml.token_type"]
    vocab = {t: i for i, t in enumerate(tokens)}
    merges = [tuple(m.split(" ")) for m in meta["tokenizer.ggml.merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = smollm_pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    # Control tokens (GGUF token type 3) are matched in the raw text before any pre-tokenisation.
    specials = [tokens[i] for i, t in enumerate(types) if t == 3]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    assert [vocab[t] for t in specials] == list(range(len(specials)))
    return tok


def load_hf_tokenizer(model_dir, name):
    """transformers' tokenizer converted from the GGUF, and the same with SmolLM2's pre-tokenizer restored."""
    stock = AutoTokenizer.from_pretrained(model_dir, gguf_file=name)
    patched = AutoTokenizer.from_pretrained(model_dir, gguf_file=name)
    patched.backend_tokenizer.pre_tokenizer = smollm_pre_tokenizer()
    return stock, patched


def tokenizer_strings():
    s = [
        "", " ", "  ", "\n", "\n\n\n", "\t", " \t\n ", "Hello", "Hello world", " Hello world",
        "Hello world!", "The quick brown fox jumps over the lazy dog.",
        "What is the capital of France?", "I'm here. You're there. They'll come. We've been. He'd go. It's done.",
        "DON'T SHOUT, I CAN'T HEAR YOU'RE", "don't won't shan't y'all o'clock rock'n'roll",
        "12345678", "3.14159", "1,000,000", "2024-11-24", "call 555-0123 now", "v1.2.3-rc4",
        "   x", "x   ", "a  b   c    d", "line one\nline two\r\nline three\rfour",
        "trailing spaces   \n   leading", "tabs\tand\t\tmore\ttabs",
        "café résumé naïve façade", "cafe\u0301 re\u0301sume\u0301", "Ångström Øresund Æsir",
        "Straße größer Übermaß", "ĳ ŀ ŉ ſ", "¡Hola! ¿Qué tal?", "Ελληνικά γράμματα", "Русский текст, кириллица.",
        "Українська мова", "עברית שפה", "العربية لغة جميلة", "हिन्दी भाषा", "ภาษาไทย", "한국어 문장입니다",
        "日本語の文章です。", "中文句子，包含标点。", "漢字かなカナ混じり文", "简体中文和繁體中文",
        "emoji 😀 😃 😄 😁", "👍🏽 thumbs", "👨‍👩‍👧‍👦 family", "🇫🇷🇩🇪🇯🇵 flags", "❤️ heart", "🤖🧠💡",
        "def f(x):\n    return x * 2\n", "for (int i = 0; i < n; ++i) { sum += a[i]; }",
        "#include <vector>\nint main() { return 0; }", '{"key": [1, 2, 3], "nested": {"a": null}}',
        "SELECT * FROM users WHERE id = 42;", "x = lambda a, b: a**b  # power", "if x != y and not z:",
        "https://example.com/path?query=1&b=two#frag", "user@example.org", "C:\\Windows\\System32",
        "<html><body><p>Hi</p></body></html>", "$100.50 + €20 = ¥3000?", "50% off!!!", "a+b=c; d-e=f",
        "...", "---", "***bold***", "__init__", "snake_case_name", "camelCaseName", "SCREAMING_CASE",
        "<|im_start|>user\nHi<|im_end|>", "<|im_start|>assistant\n", "<|endoftext|>",
        "text<|im_end|>more", "<|im_start|><|im_end|>", "<|im_start", "im_start|>",
        "Step\n\n7", "Doc:\n\n12 apples", "  42", "\t9", " ٣ arabic digit", "x²+y³", "½ ¼ ¾", "①②③",
        "ＦＵＬＬＷＩＤＴＨ", "zero\u200bwidth", "non\u00a0breaking", "soft\u00adhyphen",
        "The year 1999 was followed by 2000.", "Pi is approximately 3.14159265358979.",
        "Phone: +1 (555) 123-4567", "ISBN 978-3-16-148410-0", "MMXXIV", "0x1F 0b1010 0o17",
        "Ça va? Ça va bien.", "İstanbul ığdır", "Việt Nam tiếng Việt", "Dvořák Łódź Kraków", "Þórr Ægir",
        "naïve coöperation", "ﬁne ﬂour", "Ωmega ∑ ∫ √ ∞ ≈ ≠", "→ ← ↑ ↓ ⇒", "♠♣♥♦", "© ® ™ ℃",
        "    def indented(self):\n        pass", "\n\n\n\nfour newlines", "mixed \r\n endings\r\n",
        "  \n  \n  ", "a\u3000ideographic space", "quotes “curly” ‘single’ «guillemets»", "em—dash en–dash",
        "1st 2nd 3rd 4th", "10,000 people in 1,200 towns", "A1B2C3", "007 James", "the 1990s and '80s",
        "  1", "   123", "a  1", "x\n1", "\n\n2024", "score:\t10", "1 2  3   4", "99 bottles", " 1e-5 2E+10",
        "I'll they'll we'd you've she's", "It's 5 o'clock", "they'll", "I'm", "DON'T",
        "<|endoftext|><|endoftext|>", " <|im_start|> spaced ", "<|im_start|>system\nYou are helpful.<|im_end|>\n",
        "<file_sep><filename>main.py", "   ", "\n \n", "end.\n\n", "tab\t", "\r\n", "\u0007bell", "ÿþ",
    ]
    rng = random.Random(20261124)
    words = ("the of and to in is was for on that with as by at from his her it an were are which this be "
             "river bridge market ledger apple wool salt town museum herring lock weir heron stone arch").split()
    for i in range(60):
        n = rng.randint(1, 25)
        parts = []
        for _ in range(n):
            r = rng.random()
            if r < 0.7:
                parts.append(rng.choice(words))
            elif r < 0.8:
                parts.append(str(rng.randint(0, 100000)))
            elif r < 0.9:
                parts.append(rng.choice([",", ".", "!", "?", ";", ":", "'s", "-", "(", ")", '"']))
            else:
                parts.append(rng.choice(["\n", "  ", "\t", "\n\n"]))
        s.append(" ".join(parts))
    alphabet = [chr(c) for c in range(32, 127)] + list("éüßçñøåæœ€£¥αβγδЖЩЯ中文日本한국😀👍\n\t ")
    for i in range(40):
        s.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))))
    return s


def long_prompt():
    rng = random.Random(7)
    subjects = ["The old lighthouse", "A small bakery", "The city council", "Our research team", "The river ferry",
                "A local farmer", "The museum curator", "The school choir", "A retired engineer", "The night train"]
    verbs = ["announced", "repaired", "described", "measured", "celebrated", "questioned", "recorded", "painted"]
    objects = ["the winter schedule", "a new set of brass instruments", "the flooded meadow", "seventeen jars of honey",
               "the broken clock tower", "an unusual migration of geese", "the annual harvest festival",
               "a forgotten map of the valley", "the price of coal in 1887", "the shape of the northern coastline"]
    tails = ["after a long debate.", "before the first snow.", "with surprising care.", "to everyone's relief.",
             "despite the heavy rain.", "in front of a curious crowd.", "for the third time this year."]
    sentences = [f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)} {rng.choice(tails)}"
                 for _ in range(73)]
    return " ".join(sentences) + "\n\nQuestion: Which of these events happened most often? Answer:"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--out", default="tests/fixtures")
    ap.add_argument("--skip-logits", action="store_true",
                    help="write only the tokenizer and chat fixtures (seconds instead of about a minute)")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    model_dir, name = os.path.split(os.path.abspath(args.model))
    os.makedirs(args.out, exist_ok=True)
    digest = sha256(args.model)
    meta = gguf_metadata(args.model)
    assert meta["tokenizer.ggml.pre"] == "smollm", meta["tokenizer.ggml.pre"]
    assert meta.get("tokenizer.ggml.add_bos_token") is False, "this model adds no BOS"
    ref = build_reference_tokenizer(meta)
    stock, tok = load_hf_tokenizer(model_dir, name)
    print(f"transformers' GGUF tokenizer pre-tokenizer: {stock.backend_tokenizer.pre_tokenizer}")
    assert not getattr(tok, "add_bos_token", False)
    digit_ids = [ref.token_to_id(c) for c in "12345"]

    def ids_of(text):
        ids = ref.encode(text, add_special_tokens=False).ids
        hf = tok(text, add_special_tokens=False)["input_ids"]
        assert ids == hf, f"reference and restored transformers tokenizer differ on {text!r}: {ids} vs {hf}"
        return ids

    assert ids_of("12345") == digit_ids, "digits must be split one by one"
    assert ids_of("<|im_start|>user\nHi<|im_end|>")[0] == 1 and ids_of("<|endoftext|>") == [0]
    cases, stock_diffs = [], []
    for t in tokenizer_strings():
        ids = ids_of(t)
        cases.append({"text": t, "ids": ids})
        hf_stock = stock(t, add_special_tokens=False)["input_ids"]
        if hf_stock != ids:
            stock_diffs.append({"text": t, "transformers_gguf_ids": hf_stock})
    with open(os.path.join(args.out, "tokenizer_smollm2.json"), "w", encoding="utf-8") as f:
        json.dump({"model_sha256": digest,
                   "reference": f"tokenizers {tokenizers.__version__} BPE built from the GGUF vocab/merges with "
                   "SmolLM2's pre-tokenizer Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space="
                   "False, use_regex=True)], special tokens as added tokens; identical on every case to transformers "
                   f"{transformers.__version__}'s GGUF tokenizer with that pre-tokenizer restored",
                   "note": "transformers' GGUF conversion ignores tokenizer.ggml.pre='smollm' (plain ByteLevel "
                   "pre-tokenizer); stock_transformers_differs lists the cases where its ids differ",
                   "stock_transformers_differs": stock_diffs, "cases": cases},
                  f, ensure_ascii=False, indent=0)
    print(f"wrote {len(cases)} tokenizer cases ({len(stock_diffs)} differ with stock transformers GGUF tokenizer)")

    conversations = [
        [{"role": "user", "content": "What is the capital of France?"}],
        [{"role": "system", "content": "You answer in one word."}, {"role": "user", "content": "Largest planet?"}],
        [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello! How can I help?"},
         {"role": "user", "content": "Tell me a joke."}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Doc:\n\n12 apples and 7 pears."}],
        [{"role": "user", "content": "Ünïcödé ✓ and 中文 in one message"}],
        [{"role": "system", "content": "You are a terse assistant."}, {"role": "user", "content": "2+2?"},
         {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 10*10?"},
         {"role": "assistant", "content": "100"}],
    ]
    chat = []
    for messages in conversations:
        for gen in (True, False):
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)
            chat.append({"messages": messages, "add_generation_prompt": gen, "text": text, "ids": ids_of(text)})
    with open(os.path.join(args.out, "chat_smollm2.json"), "w", encoding="utf-8") as f:
        json.dump({"model_sha256": digest, "cases": chat}, f, ensure_ascii=False, indent=0)
    print(f"wrote {len(chat)} chat cases")

    if args.skip_logits:
        return 0
    model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=name, dtype=torch.float32)
    model.eval()
    cfg = model.config
    prompts = [
        ("chat_france", tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                                tokenize=False, add_generation_prompt=True)),
        ("english", "Once upon a time, in a small village by the sea, there lived"),
        ("code", "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"),
        ("unicode", "Les élèves étudient le français; 学生们学习中文。 Das Wetter ist schön: 23°C ☀️"),
        ("translate", "Voici une phrase en français: « Le café est très chaud. » In English, this means:"),
        ("long", long_prompt()),
    ]
    out_cases = []
    for pname, text in prompts:
        ids = ids_of(text)
        x = torch.tensor([ids])
        with torch.no_grad():
            logits = model(x).logits[0, -1].float().numpy()
            # eos_token_id=None: never stop early, always 32 new tokens (EOS included if it is the argmax).
            gen = model.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=32,
                                 min_new_tokens=32, eos_token_id=None, pad_token_id=tok.pad_token_id or 2,
                                 output_scores=True, return_dict_in_generate=True)
        greedy = gen.sequences[0, len(ids):].tolist()
        assert len(greedy) == 32
        # Gap between the best and second-best logit at each greedy step: how close a near-tie is.
        margins = [float(v[0] - v[1]) for v in (torch.topk(sc[0].float(), 2).values for sc in gen.scores)]
        assert abs(float(gen.scores[0][0].max()) - float(logits.max())) < 1e-3
        fname = f"logits_smollm2_{pname}.bin"
        logits.astype("<f4").tofile(os.path.join(args.out, fname))
        top = np.argsort(-logits)[:10]
        out_cases.append({"name": pname, "prompt": text, "prompt_ids": ids, "logits_file": fname,
                          "logits_top": [[int(i), float(logits[i])] for i in top], "greedy_ids": greedy,
                          "greedy_text": tok.decode(greedy), "greedy_min_margin": min(margins),
                          "greedy_margins": [round(m, 4) for m in margins]})
        print(f"{pname}: {len(ids)} prompt tokens, min greedy margin {min(margins):.3f}, "
              f"greedy: {tok.decode(greedy)!r}")
    with open(os.path.join(args.out, "logits_smollm2.json"), "w", encoding="utf-8") as f:
        json.dump({"model_sha256": digest, "torch": torch.__version__, "transformers": transformers.__version__,
                   "add_bos_token": False,
                   "config": {"rope_theta": getattr(cfg, "rope_theta", None) or (cfg.rope_parameters or {}).get("rope_theta"),
                              "rms_norm_eps": cfg.rms_norm_eps, "tie_word_embeddings": cfg.tie_word_embeddings},
                   "cases": out_cases}, f, ensure_ascii=False, indent=1)
    print(f"wrote {len(out_cases)} logits cases to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
