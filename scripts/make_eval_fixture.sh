#!/usr/bin/env bash
# Regenerates tests/fixtures/eval_full_hotpotqa3.jsonl: the full-mode predictions of kvlink-eval on the
# first 3 examples of ../shared/data/eval/hotpotqa.jsonl (greedy, at most 64 new tokens, 2 threads),
# which tests/test_eval.cpp checks. Run it only when a change is meant to alter those predictions.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
build/bin/kvlink-eval -m "$MODEL" --data ../shared/data/eval/hotpotqa.jsonl --limit 3 --mode full -n 64 -t 2 --out "$tmp" >/dev/null
python3 - "$tmp/predictions.jsonl" tests/fixtures/eval_full_hotpotqa3.jsonl <<'PY'
import json, sys
with open(sys.argv[2], "w") as out:
    for line in open(sys.argv[1]):
        p = json.loads(line)
        out.write(json.dumps({"id": p["id"], "prediction": p["prediction"], "score": p["score"]}, ensure_ascii=False) + "\n")
PY
echo "wrote tests/fixtures/eval_full_hotpotqa3.jsonl"
