#!/usr/bin/env bash
# End-to-end check of the fine-tuning pipeline, small enough for every test run (about 3 minutes):
# render the training data, train 2 steps, export an adapter and a merged GGUF, and use both with the
# engine. Asserts that training moved every kind of trained tensor, that the engine accepts the
# adapter and splices its link tokens, and that transformers and the engine both load the merged file.
# Then self-distillation: a teacher run of two examples through kvlink-eval, its teacher data, one
# step of link-only training (the engine's full-mode logits with that adapter equal the base model's,
# byte for byte) and one of link + LoRA; teacher data refused for another model.
# Usage: scripts/train/smoke_test.sh [BIN_DIR]   (default build/bin)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-build/bin}
MODEL=${KVLINK_MODEL:-$PWD/models/SmolLM2-135M-Instruct.Q4_1.gguf}
PY=.venv/bin/python
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
KVLINK_RENDER=$BIN/kvlink-render scripts/train/prepare.sh "$MODEL" "$T/data" >/dev/null
$PY scripts/train/train.py --model "$MODEL" --data "$T/data" --out "$T/run" --steps 2 --accum 2 --max-tokens 768 \
  --val-every 2 --val-examples 1 --lr 1e-3 2>&1 | grep -v "Converting\|Loading weights"
$PY - "$T/run/adapter.gguf" <<'PY'
import sys, numpy as np, gguf
r = gguf.GGUFReader(sys.argv[1])
t = {x.name: np.array(x.data, dtype=np.float32) for x in r.tensors}
b = [k for k in t if k.endswith(".lora_b")]
assert len(b) == 7 * 30, len(b)
assert all(np.abs(t[k]).max() > 0 for k in b), "a LoRA B matrix is still zero after training"
e = t["kvlink.link_embd"]
assert e.shape == (100, 576) and np.isfinite(e).all()
print(f"smoke: adapter has {len(b)} LoRA pairs and {e.shape[0]} link rows, all trained")
PY
Q="The Halden Lighthouse was built by a company. Who founded that company?"
D=examples/docs/halden_lighthouse.md,examples/docs/history/norrvik_iron_company.md
"$BIN/kvlink-precompute" -m "$MODEL" --adapter "$T/run/adapter.gguf" --docs examples/docs --cache "$T/cache" >/dev/null
"$BIN/kvlink-query" -m "$MODEL" --adapter "$T/run/adapter.gguf" --cache "$T/cache" --docs "$D" -p "$Q" -n 16 --json --mode kvlink \
  > "$T/q.json" 2>/dev/null
$PY -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['n_link_tokens']==10, j; print('smoke: query with the adapter:', j['n_link_tokens'], 'link tokens')" "$T/q.json"
$PY scripts/train/export.py --model "$MODEL" --checkpoint "$T/run/checkpoint.pt" --merged "$T/merged.gguf" 2>&1 | grep -v "Converting\|Loading weights"
$PY - "$T/merged.gguf" <<'PY' 2>&1 | grep -v "Converting\|Loading weights"
import os, sys, torch
from transformers import AutoModelForCausalLM
m = AutoModelForCausalLM.from_pretrained(os.path.dirname(sys.argv[1]), gguf_file=os.path.basename(sys.argv[1]), dtype=torch.float32)
assert m.get_input_embeddings().weight.shape[0] == 49152 + 100
print("smoke: transformers loads the merged GGUF, vocabulary", m.get_input_embeddings().weight.shape[0])
PY
"$BIN/kvlink-query" -m "$T/merged.gguf" --cache "$T/cache-merged" --docs "$D" -p "$Q" -n 16 --json --mode kvlink > "$T/m.json" 2>/dev/null
$PY -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['n_link_tokens']==10, j; print('smoke: query with the merged model:', j['n_link_tokens'], 'link tokens')" "$T/m.json"

# Self-distillation (docs/TRAINING.md).
"$BIN/kvlink-eval" -m "$MODEL" --data ../shared/data/train/qa_hotpotqa.jsonl --limit 4 --mode full -n 96 -t 2 \
  --out "$T/teacher/qa_hotpotqa" >/dev/null
$PY scripts/train/make_teacher_data.py --model "$MODEL" --teacher "$T/teacher" --out "$T/tdata" --render "$BIN/kvlink-render"
for rank in 0 4; do
  $PY scripts/train/train.py --model "$MODEL" --objective distill --teacher "$T/tdata" --out "$T/distill$rank" \
    --rank $rank --steps 1 --accum 1 --val-every 1 --val-examples 1 --val-per-set 1 2>&1 | grep -v "Converting\|Loading weights"
done
$PY - "$T/distill0/log.jsonl" "$T/distill4/adapter.gguf" <<'PY'
import json, sys, gguf
log = [json.loads(l) for l in open(sys.argv[1])]
assert log[0]["step"] == 0 and log[-1]["val_kl"] is not None and log[-1]["kl"] >= 0, log
names = [t.name for t in gguf.GGUFReader(sys.argv[2]).tensors]
assert sum(n.endswith(".lora_b") for n in names) == 7 * 30 and "kvlink.link_embd" in names
print(f"smoke: distillation logged KL {log[-1]['kl']:.3f} (validation {log[-1]['val_kl']:.3f}); link + LoRA adapter exported")
PY
"$BIN/kvlink-query" -m "$MODEL" -p "Hello there" -n 1 -t 2 --logits-out "$T/base.bin" >/dev/null 2>&1
"$BIN/kvlink-query" -m "$MODEL" --adapter "$T/distill0/adapter.gguf" -p "Hello there" -n 1 -t 2 --logits-out "$T/link.bin" >/dev/null 2>&1
cmp "$T/base.bin" "$T/link.bin"
echo "smoke: a link-only adapter leaves full-mode logits unchanged"
sed -i '1s/"model_fingerprint": "[0-9a-f]*"/"model_fingerprint": "0000000000000000"/' "$T/tdata/qa_hotpotqa.jsonl"
if $PY scripts/train/train.py --model "$MODEL" --objective distill --teacher "$T/tdata" --out "$T/bad" --steps 1 \
     > "$T/bad.out" 2>&1; then echo "smoke: a foreign teacher file was accepted"; exit 1; fi
grep -q "holds a teacher of model" "$T/bad.out"
echo "smoke: teacher data of another model refused"
echo "smoke: fine-tuning pipeline OK"
