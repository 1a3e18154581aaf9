#!/usr/bin/env bash
# Installs everything kvlink needs on a fresh Debian 12 machine and builds it:
#   Debian packages (compiler, OpenBLAS (pthread build, loaded at run time), CLI11, cpp-httplib, nlohmann-json, xxHash, GoogleTest, Google Benchmark),
#   the default model (scripts/fetch_model.sh), the Python environment for the reference checks (.venv),
#   and a Release build in build/.
# Environment: KVLINK_SKIP_PYTHON=1 skips the Python environment; BUILD_DIR overrides build/.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}

PACKAGES=(cmake g++ make pkg-config libopenblas0-pthread libcli11-dev libcpp-httplib-dev
          nlohmann-json3-dev libxxhash-dev libgtest-dev libgmock-dev libbenchmark-dev python3-venv)
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "setup: installed ${missing[*]}"
fi

scripts/fetch_model.sh

if [ "${KVLINK_SKIP_PYTHON:-0}" != 1 ]; then
  if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import torch, transformers, gguf, matplotlib, xxhash, openai" 2>/dev/null; then
    python3 -m venv .venv
    # torch first and pinned: 2.13.0 resolves to the CPU build on disk; any other spec pulls CUDA wheels.
    .venv/bin/pip install --quiet --disable-pip-version-check torch==2.13.0
    .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/reference/requirements.txt
  fi
  echo "setup: python environment .venv ready"
fi

cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
echo "setup: built $BUILD_DIR/bin"
