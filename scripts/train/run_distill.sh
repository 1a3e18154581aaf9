#!/usr/bin/env bash
# Self-distillation, sized for this machine and resumable across sessions (docs/TRAINING.md):
#   scripts/train/run_distill.sh RUN_DIR [train.py options...]
# turns the teacher run (results/teacher, scripts/train/make_teacher.sh) into teacher data
# (make_teacher_data.py, into TEACHER_DATA), then trains (train.py --objective distill; resumes from
# RUN_DIR/checkpoint.pt) for at most MINUTES, writes RUN_DIR/adapter.gguf and the curves
# RUN_DIR/loss.png. Run the same command again to go on; the teacher data grows as make_teacher.sh does.
# Environment: KVLINK_MODEL, PYTHON, TEACHER (results/teacher), TEACHER_DATA (train-data/teacher),
# MINUTES (60), THREADS (1), KIND (link: link-token embeddings only; lora: link + LoRA rank 8).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=${1:?run directory}; shift
MODEL=${KVLINK_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
PYTHON=${PYTHON:-.venv/bin/python}
TEACHER=${TEACHER:-results/teacher}
TEACHER_DATA=${TEACHER_DATA:-train-data/teacher}
MINUTES=${MINUTES:-60}
THREADS=${THREADS:-1}
case "${KIND:-link}" in
  link) RANK=0 ;;
  lora) RANK=8 ;;
  *) echo "run_distill: KIND must be link or lora" >&2; exit 1 ;;
esac
$PYTHON scripts/train/make_teacher_data.py --model "$MODEL" --teacher "$TEACHER" --out "$TEACHER_DATA"
mkdir -p "$RUN"
$PYTHON scripts/train/train.py --model "$MODEL" --objective distill --teacher "$TEACHER_DATA" --out "$RUN" \
  --rank "$RANK" --threads "$THREADS" --max-minutes "$MINUTES" --steps 2000 --accum 4 --warmup 10 \
  --lr 3e-4 --link-lr 3e-3 --val-every 10 --val-examples 8 --max-tokens 4096 "$@"
$PYTHON scripts/train/plot_loss.py "$RUN/log.jsonl" "$RUN/loss.png"
echo "run_distill: adapter $RUN/adapter.gguf, log $RUN/log.jsonl, curves $RUN/loss.png"
