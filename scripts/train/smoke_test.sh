#!/usr/bin/env bash
# End-to-end check of the fine-tuning pipeline, small enough for every test run (about 3 minutes):
# render the training data, train 2 steps, export an adapter and a merged GGUF, and use both with the
# engine. Asserts that training moved every kind of trained tensor, that the engine accepts the
# adapter and splices its link tokens, and that transformers and the engine both load the merged file.
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
"$BIN/kvlink-query" -m "$MODEL" --adapter "$T/run/adapter.gguf" --cache "$T/cache" --docs "$D" -p "$Q" -n 16 --json \
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
"$BIN/kvlink-query" -m "$T/merged.gguf" --cache "$T/cache-merged" --docs "$D" -p "$Q" -n 16 --json > "$T/m.json" 2>/dev/null
$PY -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['n_link_tokens']==10, j; print('smoke: query with the merged model:', j['n_link_tokens'], 'link tokens')" "$T/m.json"
echo "smoke: fine-tuning pipeline OK"
