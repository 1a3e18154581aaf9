#!/usr/bin/env bash
# The evaluation protocol (docs/RESULTS.md): the first 100 NQ examples at gold positions 0, 4 and 9 and
# the first 200 examples of every other set in ../shared/data/eval/, in every mode, on the default
# model; then the report (scripts/protocol_report.py: accuracy with intervals, paired differences to
# full, TTFT and its ratio to full's, the plot). The sets grow in rounds of STEP examples (NQ: half
# as many, since each is answered three times), so an interrupted run leaves every set and mode
# covered alike; run it again and it carries on where it stopped. One chunk cache directory serves
# every set, mode and run.
# Environment: THREADS (default: all cores), OUT (results/eval), MODEL, ADAPTER (also run kvlink and
# full with this adapter, in OUT/adapter-<name>), ADAPTER_MODES (those modes instead, e.g. kvlink
# alone for a link-only adapter, whose full mode is the base model's by construction), DATA
# (../shared/data/eval), PARALLEL (16), STEP (20), LIMIT (200; NQ: LIMIT / 2), MODES, BIN (the
# tools' folder, default build/bin), PRODUCTS (f32: the arithmetic every stored prediction in
# results/eval was made with; kvlink-eval refuses to mix products in one output directory; int16 is
# the tools' default, docs/PRODUCTS.md). Each invocation appends its wall time and the answers it
# added (every mode, adapters' folders included) to OUT/time.txt; OUT/remark.md, if present, closes
# the report.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
DATA=${DATA:-../shared/data/eval}
OUT=${OUT:-results/eval}
LIMIT=${LIMIT:-200}
STEP=${STEP:-20}
THREADS=${THREADS:-$(nproc)}
PYTHON=${PYTHON:-.venv/bin/python}
PARALLEL=${PARALLEL:-16}
MODES=${MODES:-full,kvlink,reencode,noshift,cacheblend,prefix,ape,epic}
BIN=${BIN:-build/bin}
ADAPTER_MODES=${ADAPTER_MODES:-full,kvlink}
PRODUCTS=${PRODUCTS:-f32}
EVAL="$BIN/kvlink-eval -m $MODEL -t $THREADS --parallel $PARALLEL --cache $OUT/cache --products $PRODUCTS"
mkdir -p "$OUT"
answers() {  # answers stored so far, in every mode and in the adapters' folders (none yet: 0)
  { cat "$OUT"/modes/predictions.jsonl "$OUT"/adapter-*/predictions.jsonl 2>/dev/null || true; } | wc -l
}
answers_before=$(answers)
start=$(date +%s)
for ((lim = STEP; lim <= LIMIT; lim += STEP)); do
  for set in hotpotqa hotpotqa_fullwiki 2wikimqa musique; do
    $EVAL --data "$DATA/$set.jsonl" --limit "$lim" --mode "$MODES" --out "$OUT/modes" > /dev/null
  done
  $EVAL --data "$DATA/nq.jsonl" --limit $((lim / 2)) --gold-position 0,4,9 --mode "$MODES" --out "$OUT/modes" > /dev/null
  if [ -n "${ADAPTER:-}" ]; then
    for set in hotpotqa hotpotqa_fullwiki 2wikimqa musique; do
      $EVAL --adapter "$ADAPTER" --data "$DATA/$set.jsonl" --limit "$lim" --mode "$ADAPTER_MODES" \
        --out "$OUT/adapter-$(basename "$ADAPTER" .gguf)" > /dev/null
    done
    $EVAL --adapter "$ADAPTER" --data "$DATA/nq.jsonl" --limit $((lim / 2)) --gold-position 0,4,9 --mode "$ADAPTER_MODES" \
      --out "$OUT/adapter-$(basename "$ADAPTER" .gguf)" > /dev/null
  fi
  echo "run_eval: round of $lim examples per set done ($(date +%H:%M:%S))"
done
end=$(date +%s)
# One line per completed invocation (an interrupted one writes none; its answers count for the next).
echo "run_eval: $((end - start)) s, $(( $(answers) - answers_before )) new answers (LIMIT=$LIMIT, THREADS=$THREADS, PARALLEL=$PARALLEL, PRODUCTS=$PRODUCTS)" | tee -a "$OUT/time.txt"
# TTFT_JSONL: a bench-ttft run whose TTFTs place the modes in the plot (one machine, one load).
"$PYTHON" scripts/protocol_report.py "$OUT" --command "LIMIT=$LIMIT THREADS=$THREADS PRODUCTS=$PRODUCTS${ADAPTER:+ ADAPTER=$ADAPTER} scripts/run_eval.sh" \
  ${TTFT_JSONL:+--ttft "$TTFT_JSONL"}
