#!/usr/bin/env bash
# Fetches llama.cpp as the llama-cpp-python source package carries it (PyPI is reachable; no other
# network) and builds its llama-bench once, CPU only, native flags, into a cache folder outside the
# repository. Prints the binary's path. Nothing fetched is kept in the repository.
# Environment: PEER_CACHE (default ~/.cache/kvlink-peer), PEER_VERSION (llama-cpp-python, 0.3.36),
# PYTHON (a Python with pip; default .venv/bin/python, else python3), JOBS (build jobs, default nproc),
# PEER_AMX (0: build without llama.cpp's AMX matrix path, the default on a CPU that reports AMX, where
# that path died with SIGSEGV in ggml_backend_amx_mul_mat on the 2-core Xeon of 2026-12-03; 1: keep it).
set -euo pipefail
cd "$(dirname "$0")/../.."
PEER_CACHE=${PEER_CACHE:-$HOME/.cache/kvlink-peer}
PEER_VERSION=${PEER_VERSION:-0.3.36}
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
JOBS=${JOBS:-$(nproc)}
PEER_AMX=${PEER_AMX:-$(grep -qw amx_int8 /proc/cpuinfo && echo 0 || echo 1)}
flags=""; suffix=""
if [ "$PEER_AMX" = 0 ]; then flags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"; suffix="-noamx"; fi
bin="$PEER_CACHE/llama-bench-$PEER_VERSION$suffix"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
src="$PEER_CACHE/src"
mkdir -p "$src"
tarball="$src/llama_cpp_python-$PEER_VERSION.tar.gz"
if [ ! -f "$tarball" ]; then
  "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    "llama-cpp-python==$PEER_VERSION" -d "$src" >&2
fi
[ -f "$tarball" ] || { echo "build_llama_bench: pip did not produce $tarball" >&2; exit 1; }
tree="$src/llama_cpp_python-$PEER_VERSION"
[ -d "$tree/vendor/llama.cpp" ] || tar xzf "$tarball" -C "$src"
[ -f "$tree/vendor/llama.cpp/CMakeLists.txt" ] || { echo "build_llama_bench: no vendor/llama.cpp in $tarball" >&2; exit 1; }
build="$PEER_CACHE/build-$PEER_VERSION$suffix"
cmake -S "$tree/vendor/llama.cpp" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF >&2
cmake --build "$build" --target llama-bench -j "$JOBS" >&2
cp "$build/bin/llama-bench" "$bin.tmp" && mv "$bin.tmp" "$bin"
echo "$bin"
