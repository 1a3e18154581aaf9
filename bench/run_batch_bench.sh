#!/usr/bin/env bash
# Batched decoding against one-at-a-time decoding (bench-batch-decode): N sequences of P prompt tokens,
# D greedy tokens each, both ways in one process, median of RUNS (default 3). Prints a markdown table
# and writes the raw JSON lines to bench/results/batch_decode.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
RUNS=${RUNS:-3}
THREADS=${THREADS:-2}
mkdir -p bench/results
out=bench/results/batch_decode.jsonl
: > "$out"
for p in 64 1500; do
  for n in 4 8 16 32; do
    "$BUILD_DIR"/bin/bench-batch-decode -m "$MODEL" -N "$n" -p "$p" -d 32 -r "$RUNS" -t "$THREADS" | tee -a "$out"
  done
done
echo
echo "| prompt tokens | sequences | one at a time, tokens/s | batched, tokens/s | speed-up |"
echo "|---|---|---|---|---|"
python3 - "$out" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    j = json.loads(line)
    print(f"| {j['prompt_tokens']} | {j['sequences']} | {j['alone_tokens_per_s']:.0f} | {j['batched_tokens_per_s']:.0f} | {j['speedup']:.2f}x |")
PY
