#!/usr/bin/env bash
# Runs the whole test suite: a Release build with warnings as errors, then an ASan/UBSan build; both
# run every test, the real default model's included. Expects scripts/setup.sh to have run
# (packages and model; it fetches the model if missing).
# Environment: KVLINK_SKIP_SANITIZE=1 skips the sanitizer pass; KVLINK_FUZZ_SECONDS (default 30) bounds
# each fuzz target's run (tests/fuzz: GGUF reader and model loader, chunk cache reader, manifest parser),
# in the sanitizer build (in the Release build when the sanitizer pass is skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)
MODEL=$PWD/models/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$MODEL" ] || scripts/fetch_model.sh

cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Release -DKVLINK_WERROR=ON >/dev/null
cmake --build build-test -j"$JOBS"
(cd build-test && KVLINK_MODEL="$MODEL" KVLINK_REQUIRE_MODEL=1 ctest --output-on-failure -j"$JOBS")
# The fine-tuning pipeline end to end (Python + the tools just built): scripts/train/smoke_test.sh.
KVLINK_MODEL="$MODEL" scripts/train/smoke_test.sh build-test/bin
# kvlink-server through the openai client on loopback ports (tests/server/).
KVLINK_MODEL="$MODEL" .venv/bin/python tests/server/test_server.py build-test/bin

if [ "${KVLINK_SKIP_SANITIZE:-0}" != 1 ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVLINK_SANITIZE=ON -DKVLINK_WERROR=ON -DKVLINK_BUILD_BENCH=OFF >/dev/null
  cmake --build build-asan -j"$JOBS"
  (cd build-asan && KVLINK_MODEL="$MODEL" KVLINK_REQUIRE_MODEL=1 ASAN_OPTIONS=detect_leaks=1 \
     UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j"$JOBS")
  # The server's threads (HTTP, engine, streams ending early) under the sanitizers.
  KVLINK_MODEL="$MODEL" ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    .venv/bin/python tests/server/test_server.py build-asan/bin
  FUZZ_BIN=$PWD/build-asan/bin
else
  FUZZ_BIN=$PWD/build-test/bin
fi
# Fuzz targets for a bounded time each; a crash or sanitizer report fails the run (its input is left
# in fuzz-last-input.bin in the temporary folder named on failure).
FUZZ_DIR=$(mktemp -d)
for t in gguf cache-file manifest; do
  (cd "$FUZZ_DIR" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
     "$FUZZ_BIN/fuzz-$t" --seconds "${KVLINK_FUZZ_SECONDS:-30}") || { echo "fuzz-$t failed; input in $FUZZ_DIR"; exit 1; }
done
rm -rf "$FUZZ_DIR"
