#!/usr/bin/env bash
# Evaluates a KVLink adapter with kvlink-eval on every set of ../shared/data/eval/ (NQ at gold
# positions 0, 4 and 9) in the given modes, then prints the comparison with the base model's run
# (scripts/run_eval.sh output) as the markdown table of docs/TRAINING.md. Resumable.
# Environment: ADAPTER (default adapters/smollm2-135m-kvlink.gguf), LIMIT (examples per set, 0 = all;
# default 20, as the base run in docs/RESULTS.md), MODES (default all five), THREADS, OUT (default
# results/eval-trained), BASE (the base model's results, default results/eval/modes), MODEL, DATA.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
ADAPTER=${ADAPTER:-adapters/smollm2-135m-kvlink.gguf}
DATA=${DATA:-../shared/data/eval}
OUT=${OUT:-results/eval-trained}
BASE=${BASE:-results/eval/modes}
LIMIT=${LIMIT:-20}
MODES=${MODES:-full,kvlink,reencode,noshift,cacheblend}
THREADS=${THREADS:-$(nproc)}
EVAL="build/bin/kvlink-eval -m $MODEL --adapter $ADAPTER -t $THREADS --limit $LIMIT --mode $MODES --cache $OUT/cache"
start=$(date +%s)
mkdir -p "$OUT"
for set in hotpotqa hotpotqa_fullwiki 2wikimqa musique; do
  $EVAL --data "$DATA/$set.jsonl" --out "$OUT/modes"
done
$EVAL --data "$DATA/nq.jsonl" --gold-position 0,4,9 --out "$OUT/modes"
end=$(date +%s)
prev=$(awk '{print $2}' "$OUT/time.txt" 2>/dev/null || echo 0)
echo "eval_trained: $((prev + end - start)) s (LIMIT=$LIMIT, THREADS=$THREADS, MODES=$MODES)" | tee "$OUT/time.txt"
${PYTHON:-.venv/bin/python} scripts/train/training_report.py "$BASE" "$OUT/modes"
