#!/usr/bin/env bash
# The whole evaluation (evaluation issue): every set in ../shared/data/eval/ in modes full, kvlink,
# reencode, noshift and cacheblend on the default model (NQ at gold positions 0, 4 and 9), then
# kvlink with Q8_0 and Q4_0 chunk caches, then the report (docs/RESULTS.md's tables and plot).
# Resumable: run it again after an interruption and it carries on. One chunk cache directory serves
# every set, mode and run.
# Environment: LIMIT (examples per set, 0 = all; default 0), THREADS (default: all cores),
# OUT (default results/eval), MODEL, DATA (default ../shared/data/eval).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
DATA=${DATA:-../shared/data/eval}
OUT=${OUT:-results/eval}
LIMIT=${LIMIT:-0}
THREADS=${THREADS:-$(nproc)}
PYTHON=${PYTHON:-.venv/bin/python}
EVAL="build/bin/kvlink-eval -m $MODEL -t $THREADS --limit $LIMIT"
start=$(date +%s)
mkdir -p "$OUT"
for set in hotpotqa hotpotqa_fullwiki 2wikimqa musique; do
  $EVAL --data "$DATA/$set.jsonl" --mode full,kvlink,reencode,noshift,cacheblend --out "$OUT/modes" --cache "$OUT/cache"
done
$EVAL --data "$DATA/nq.jsonl" --gold-position 0,4,9 --mode full,kvlink,reencode,noshift,cacheblend --out "$OUT/modes" --cache "$OUT/cache"
for kv in q8_0 q4_0; do
  for set in hotpotqa hotpotqa_fullwiki 2wikimqa musique; do
    $EVAL --data "$DATA/$set.jsonl" --mode kvlink --kv-type $kv --out "$OUT/kv-$kv" --cache "$OUT/cache"
  done
  $EVAL --data "$DATA/nq.jsonl" --gold-position 0,4,9 --mode kvlink --kv-type $kv --out "$OUT/kv-$kv" --cache "$OUT/cache"
done
end=$(date +%s)
# Seconds over the completed invocations on this OUT (an interrupted invocation's time is not counted).
prev=$(awk '{print $2}' "$OUT/time.txt" 2>/dev/null || echo 0)
echo "run_eval: $((prev + end - start)) s (LIMIT=$LIMIT, THREADS=$THREADS)" | tee "$OUT/time.txt"
"$PYTHON" scripts/eval_report.py "$OUT" --limit "$LIMIT" --threads "$THREADS" --data "$DATA"
