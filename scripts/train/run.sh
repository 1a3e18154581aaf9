#!/usr/bin/env bash
# One command from the base model to a trained KVLink adapter:
#   scripts/train/run.sh RUN_DIR [train.py options...]
# renders the training data with the engine's prompt code (prepare.sh, into train-data/), trains
# (train.py; resumes when RUN_DIR has a checkpoint), and leaves RUN_DIR/adapter.gguf, log.jsonl and
# loss.png. Environment: KVLINK_MODEL (default: the default model), PYTHON (default: .venv/bin/python).
# On CUDA machines the same command trains on the GPU; several GPUs: TORCHRUN="torchrun --nproc_per_node N".
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=${1:?run directory}; shift
MODEL=${KVLINK_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
PYTHON=${PYTHON:-.venv/bin/python}
DATA=${KVLINK_TRAIN_DATA:-train-data}
[ -f "$DATA/text.jsonl" ] || scripts/train/prepare.sh "$MODEL" "$DATA"
mkdir -p "$RUN"
${TORCHRUN:-$PYTHON} scripts/train/train.py --model "$MODEL" --data "$DATA" --out "$RUN" "$@"
$PYTHON scripts/train/plot_loss.py "$RUN/log.jsonl" "$RUN/loss.png"
echo "run.sh: adapter $RUN/adapter.gguf, log $RUN/log.jsonl, curves $RUN/loss.png"
