#!/usr/bin/env bash
# TTFT per reuse mode for 10 chunks of ~100, ~200 and ~500 tokens (1k-5k context), median of RUNS
# runs (default 5) at THREADS threads (default 2), page cache warm and then cold (each cache file
# evicted before every run). Writes bench/results/ttft.jsonl, the table bench/results/ttft.md and the
# plot bench/results/ttft.png (both quoted in bench/RESULTS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
RUNS=${RUNS:-5}
THREADS=${THREADS:-2}
PYTHON=${PYTHON:-.venv/bin/python}
mkdir -p bench/results
out=bench/results/ttft.jsonl
: > "$out"
"$BUILD_DIR"/bin/bench-ttft -m "$MODEL" -r "$RUNS" -t "$THREADS" | tee -a "$out"
"$BUILD_DIR"/bin/bench-ttft -m "$MODEL" -r "$RUNS" -t "$THREADS" --cold --modes kvlink,reencode,noshift | tee -a "$out"
"$PYTHON" scripts/plot_ttft.py "$out" bench/results/ttft.md bench/results/ttft.png
cat bench/results/ttft.md
