#!/usr/bin/env bash
# Prefill (512 and 2,048 tokens) and decode throughput at 1 and 2 threads, median of RUNS runs
# (default 5), one process per configuration for its peak RSS. Prints a markdown table and writes
# the raw JSON lines to bench/results/generation.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
RUNS=${RUNS:-5}
mkdir -p bench/results
out=bench/results/generation.jsonl
: > "$out"
for threads in 1 2; do
  for n in 512 2048; do
    "$BUILD_DIR"/bin/bench-generation -m "$MODEL" -p "$n" -d 64 -r "$RUNS" -t "$threads" | tee -a "$out"
  done
done
echo
echo "| threads | prompt tokens | prefill tokens/s | prefill s | decode tokens/s (64 after the prompt) | peak RSS MB |"
echo "|---|---|---|---|---|---|"
python3 - "$out" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    j = json.loads(line)
    print(f"| {j['threads']} | {j['prompt_tokens']} | {j['prefill_tokens_per_s']:.0f} | {j['prefill_seconds']:.2f} | {j['decode_tokens_per_s']:.1f} | {j['peak_rss_mb']:.0f} |")
PY
