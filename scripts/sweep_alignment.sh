#!/usr/bin/env bash
# The sweep that sets the alignment modes' default parameters (docs/REUSE.md): `ape` over temperature
# T and scale S, `epic` over the tokens recomputed per chunk k, on the first LIMIT examples of each
# multi-document QA training set (never on ../shared/data/eval). `full` on the same examples is the
# teacher run of scripts/train/make_teacher.sh (TEACHER), which answers the same layouts with the same
# decoding; scripts/sweep_report.py pairs every point with it. Resumable: each point is a kvlink-eval
# output directory; one chunk cache directory serves every point.
#   scripts/sweep_alignment.sh
# Environment: LIMIT (40), THREADS (1), PARALLEL (8), OUT (results/sweep), TEACHER (results/teacher),
# APE ("T:S ..." points), EPIC ("k ..."), PREFIX_EPIC ("k ...": prefix-epic points, none by default),
# CACHEBLEND ("r ...": cacheblend recompute ratios, none by default),
# PREFIX (1: also mode prefix), MODEL, DATA, BIN, PRODUCTS (f32).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
DATA=${DATA:-../shared/data/train}
BIN=${BIN:-build/bin}
# The stored runs were made with the reference products; kvlink-eval refuses to mix them in one folder.
PRODUCTS=${PRODUCTS:-f32}
OUT=${OUT:-results/sweep}
LIMIT=${LIMIT:-40}
THREADS=${THREADS:-1}
PARALLEL=${PARALLEL:-8}
APE=${APE-"1:1 0.8:1 0.6:1 0.8:0.9 0.6:0.8"}  # set but empty: no ape point
EPIC=${EPIC-"4 16 64"}  # set but empty: no epic point
PREFIX_EPIC=${PREFIX_EPIC-}
CACHEBLEND=${CACHEBLEND-}
PREFIX=${PREFIX:-1}
SETS=(qa_nq qa_2wikimqa qa_hotpotqa qa_musique)
case "$DATA" in *eval*) echo "sweep_alignment: sweeps run on training sets only, not $DATA" >&2; exit 1;; esac
run() {  # run POINT_NAME FLAGS...
  local name=$1; shift
  for set in "${SETS[@]}"; do
    "$BIN/kvlink-eval" -m "$MODEL" --products "$PRODUCTS" --data "$DATA/$set.jsonl" --limit "$LIMIT" -n 200 -t "$THREADS" \
      --parallel "$PARALLEL" --cache "$OUT/cache" --out "$OUT/$name/$set" "$@" > /dev/null
  done
  echo "sweep_alignment: $name done ($(date +%H:%M:%S))"
}
[ "$PREFIX" = 1 ] && run prefix --mode prefix,reencode
for p in $APE; do run "ape-T${p%%:*}-S${p##*:}" --mode ape --ape-temperature "${p%%:*}" --ape-scale "${p##*:}"; done
for k in $EPIC; do run "epic-k$k" --mode epic --epic-tokens "$k"; done
for k in $PREFIX_EPIC; do run "prefix-epic-k$k" --mode prefix-epic --epic-tokens "$k"; done
for r in $CACHEBLEND; do run "cacheblend-r$r" --mode cacheblend --recompute-ratio "$r"; done
