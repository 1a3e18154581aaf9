#!/usr/bin/env bash
# The whole evaluation (evaluation issue): every set in ../shared/data/eval/ in modes full, kvlink,
# reencode, noshift and cacheblend on the default model (NQ at gold positions 0, 4 and 9), then
# kvlink with Q8_0 and Q4_0 chunk caches, then the report (docs/RESULTS.md's tables and plot).
# Resumable: run it again after an interruption and it carries on. One chunk cache directory serves
# every set, mode and run.
# Environment: LIMIT (examples per set, 0 = all; default 0), THREADS (default: all cores),
# OUT (default results/eval), MODEL, DATA (default ../shared/data/eval), PARALLEL (answers decoded
# together, default 16). Each invocation appends its wall time and the number of (example, gold
# position) pairs it added to OUT/time.txt; the report computes the rate from the last one.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
DATA=${DATA:-../shared/data/eval}
OUT=${OUT:-results/eval}
LIMIT=${LIMIT:-0}
THREADS=${THREADS:-$(nproc)}
PYTHON=${PYTHON:-.venv/bin/python}
PARALLEL=${PARALLEL:-16}
EVAL="build/bin/kvlink-eval -m $MODEL -t $THREADS --limit $LIMIT --parallel $PARALLEL"
mkdir -p "$OUT"
# (example, gold position) pairs answered so far in the modes run
pairs() {
  "$PYTHON" -c 'import json,sys; print(len({(j["dataset"], j["id"], j["gold_position"]) for j in map(json.loads, open(sys.argv[1]))}))' \
    "$OUT/modes/predictions.jsonl" 2>/dev/null || echo 0
}
pairs_before=$(pairs)
start=$(date +%s)
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
# One line per completed invocation (an interrupted one writes none; its answers count for the next).
echo "run_eval: $((end - start)) s, $(( $(pairs) - pairs_before )) new pairs (LIMIT=$LIMIT, THREADS=$THREADS, PARALLEL=$PARALLEL)" | tee -a "$OUT/time.txt"
"$PYTHON" scripts/eval_report.py "$OUT" --limit "$LIMIT" --threads "$THREADS" --data "$DATA"
