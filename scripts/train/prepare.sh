#!/usr/bin/env bash
# Renders ../shared/data/train/ into token ids with the engine's own prompt layout (kvlink-render), for
# scripts/train/train.py. Usage: scripts/train/prepare.sh MODEL.gguf OUT_DIR [DATA_DIR]
# Never reads ../shared/data/eval.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${1:?model}; OUT=${2:?output directory}; DATA=${3:-../shared/data/train}
RENDER=${KVLINK_RENDER:-build/bin/kvlink-render}
mkdir -p "$OUT"
for f in qa_nq qa_2wikimqa qa_hotpotqa qa_musique multidoc_wikihop chat_alpaca chat_sft chat_gsm8k chat_reading text; do
  "$RENDER" -m "$MODEL" --data "$DATA/$f.jsonl" --out "$OUT/$f.jsonl"
done
# Summaries: the article split into ~100-token documents, the instruction as the question.
"$RENDER" -m "$MODEL" --data "$DATA/chat_xsum.jsonl" --out "$OUT/chat_xsum.docs.jsonl" --as-documents 100
