#!/usr/bin/env python3
"""Writes the reference fixtures the C++ tests compare against, computed by Hugging Face
transformers from the same GGUF file (weights dequantised to float32 by transformers' GGUF loader).

Outputs (in --out):
  tokenizer_smollm2.json   token ids of >= 200 varied strings
  chat_smollm2.json        chat-template renderings and their ids
  logits_smollm2.json      prompts, prompt ids, top logits and 32-token greedy continuations
  logits_smollm2_<name>.bin  last prompt position's logits, float32 little-endian, vocabulary order

Tokenizer note: transformers 5.23 builds the tokenizer of a GGUF whose tokenizer.ggml.pre is
"smollm" with the plain GPT-2 pre-tokenizer; SmolLM2's own tokenizer (and llama.cpp) first split
every digit off on its own (Digits(individual_digits=True), then ByteLevel). We restore that
pre-tokenizer on the loaded tokenizer so the reference is SmolLM2's real tokenisation.
"""
import argparse
import hashlib
import json
import os
import random
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from tokenizers import pre_tokenizers  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_tokenizer(model_dir, name):
    tok = AutoTokenizer.from_pretrained(model_dir, gguf_file=name)
    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True),
         pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    assert tok("12345", add_special_tokens=False)["input_ids"] == [
        tok.convert_tokens_to_ids(c) for c in "12345"], "digits must be split one by one"
    return tok


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
                 for _ in range(95)]
    return " ".join(sentences) + "\n\nQuestion: Which of these events happened most often? Answer:"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--out", default="tests/fixtures")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    model_dir, name = os.path.split(os.path.abspath(args.model))
    os.makedirs(args.out, exist_ok=True)
    digest = sha256(args.model)
    tok = load_tokenizer(model_dir, name)

    def ids_of(text):
        return tok(text, add_special_tokens=False)["input_ids"]

    cases = [{"text": t, "ids": ids_of(t)} for t in tokenizer_strings()]
    with open(os.path.join(args.out, "tokenizer_smollm2.json"), "w", encoding="utf-8") as f:
        json.dump({"model_sha256": digest, "reference": f"transformers {transformers.__version__} GGUF tokenizer "
                   "with SmolLM2's pre-tokenizer (Digits individual + ByteLevel) restored", "cases": cases},
                  f, ensure_ascii=False, indent=0)
    print(f"wrote {len(cases)} tokenizer cases")

    conversations = [
        [{"role": "user", "content": "What is the capital of France?"}],
        [{"role": "system", "content": "You answer in one word."}, {"role": "user", "content": "Largest planet?"}],
        [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello! How can I help?"},
         {"role": "user", "content": "Tell me a joke."}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Doc:\n\n12 apples and 7 pears."}],
        [{"role": "user", "content": "Ünïcödé ✓ and 中文 in one message"}],
    ]
    chat = []
    for messages in conversations:
        for gen in (True, False):
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)
            chat.append({"messages": messages, "add_generation_prompt": gen, "text": text, "ids": ids_of(text)})
    with open(os.path.join(args.out, "chat_smollm2.json"), "w", encoding="utf-8") as f:
        json.dump({"model_sha256": digest, "cases": chat}, f, ensure_ascii=False, indent=0)
    print(f"wrote {len(chat)} chat cases")

    model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=name, dtype=torch.float32)
    model.eval()
    cfg = model.config
    prompts = [
        ("chat_france", tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                                tokenize=False, add_generation_prompt=True)),
        ("english", "Once upon a time, in a small village by the sea, there lived"),
        ("code", "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"),
        ("unicode", "Les élèves étudient le français; 学生们学习中文。 Das Wetter ist schön: 23°C ☀️"),
        ("long", long_prompt()),
    ]
    out_cases = []
    for pname, text in prompts:
        ids = ids_of(text)
        x = torch.tensor([ids])
        with torch.no_grad():
            logits = model(x).logits[0, -1].float().numpy()
            gen = model.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=32,
                                 min_new_tokens=32, eos_token_id=None, pad_token_id=tok.pad_token_id or 2)
        greedy = gen[0, len(ids):].tolist()
        fname = f"logits_smollm2_{pname}.bin"
        logits.astype("<f4").tofile(os.path.join(args.out, fname))
        top = np.argsort(-logits)[:10]
        out_cases.append({"name": pname, "prompt": text, "prompt_ids": ids, "logits_file": fname,
                          "logits_top": [[int(i), float(logits[i])] for i in top], "greedy_ids": greedy,
                          "greedy_text": tok.decode(greedy)})
        print(f"{pname}: {len(ids)} prompt tokens, greedy: {tok.decode(greedy)!r}")
    with open(os.path.join(args.out, "logits_smollm2.json"), "w", encoding="utf-8") as f:
        json.dump({"model_sha256": digest, "torch": torch.__version__, "transformers": transformers.__version__,
                   "config": {"rope_theta": getattr(cfg, "rope_theta", None) or (cfg.rope_parameters or {}).get("rope_theta"),
                              "rms_norm_eps": cfg.rms_norm_eps, "tie_word_embeddings": cfg.tie_word_embeddings},
                   "cases": out_cases}, f, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
