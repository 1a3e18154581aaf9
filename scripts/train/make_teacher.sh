#!/usr/bin/env bash
# Teacher data for self-distillation (docs/TRAINING.md): the base model's own greedy answers in
# `full` mode (ordinary prefill of the KVLink prompt layout, at most 200 new tokens, the evaluation's
# decoding) on the multi-document QA training sets, through kvlink-eval. The sets grow in rounds of
# STEP examples, so an interrupted run resumes where it stopped and every round leaves a balanced
# mixture; rerun the same command to go on.
#   scripts/train/make_teacher.sh [OUT_DIR] [LIMIT]
# Environment: BIN (tools, default build/bin), MODEL, THREADS (1), STEP (50), PARALLEL (8),
# DATA (../shared/data/train), PRODUCTS (f32). Output: OUT_DIR/<set>/predictions.jsonl (one line per example).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-results/teacher}
LIMIT=${2:-600}
BIN=${BIN:-build/bin}
# The stored runs were made with the reference products; kvlink-eval refuses to mix them in one folder.
PRODUCTS=${PRODUCTS:-f32}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
THREADS=${THREADS:-1}
STEP=${STEP:-50}
PARALLEL=${PARALLEL:-8}
DATA=${DATA:-../shared/data/train}
SETS=(qa_nq qa_2wikimqa qa_hotpotqa qa_musique)
case "$DATA" in *eval*) echo "make_teacher: teacher data comes from training sets only, not $DATA" >&2; exit 1;; esac
for ((lim = STEP; lim <= LIMIT; lim += STEP)); do
  for set in "${SETS[@]}"; do
    n=$(grep -c . "$DATA/$set.jsonl")
    [ "$lim" -gt "$n" ] && [ $((lim - STEP)) -ge "$n" ] && continue  # this set is exhausted
    "$BIN/kvlink-eval" -m "$MODEL" --products "$PRODUCTS" --data "$DATA/$set.jsonl" --out "$OUT/$set" --mode full --limit "$lim" \
      -n 200 -t "$THREADS" --parallel "$PARALLEL" > /dev/null
    echo "make_teacher: $set $(wc -l < "$OUT/$set/predictions.jsonl") answers ($(date +%H:%M:%S))"
  done
done
