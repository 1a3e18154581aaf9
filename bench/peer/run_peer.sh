#!/usr/bin/env bash
# kvlink beside llama.cpp on the same GGUF (bench/peer/peer.py): builds llama.cpp's llama-bench once
# (bench/peer/build_llama_bench.sh, from the llama-cpp-python source package), then runs both engines
# interleaved and writes the table into bench/RESULTS.md. Run it on a quiet machine: nothing else
# (builds, tests, training) may share the cores while it measures.
#   bench/peer/run_peer.sh            prefill 512/2,048 and decode 64 after 512/2,048, 1 and 2 threads
#   bench/peer/run_peer.sh --shared   two 2-thread processes of each engine at once against one alone
# Environment: MODEL (default model), ROUNDS (5), BUILD_DIR (build), and build_llama_bench.sh's.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
ROUNDS=${ROUNDS:-5}
BUILD_DIR=${BUILD_DIR:-build}
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
llama_bench=$(bench/peer/build_llama_bench.sh)
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
note="Machine: $cpu, $(nproc) cores. Command: \`bench/peer/run_peer.sh ${1:-}\` (ROUNDS=$ROUNDS), llama.cpp from llama-cpp-python ${PEER_VERSION:-0.3.36}."
"$PYTHON" bench/peer/peer.py --model "$MODEL" --bench-generation "$BUILD_DIR/bin/bench-generation" \
  --llama-bench "$llama_bench" --rounds "$ROUNDS" --write bench/RESULTS.md --note "$note" "$@"
