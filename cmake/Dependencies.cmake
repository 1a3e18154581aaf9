# System packages (Debian): OpenBLAS, CLI11, nlohmann-json, cpp-httplib, xxHash, GoogleTest and Google Benchmark.
# The kernels' threads are our own (tensor/thread_pool.h).
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
# OpenBLAS, loaded at run time by tensor/blas.cpp (so that its kernel set and thread count can be
# chosen before it initialises) from the path found here: Debian's pthread build
# (libopenblas0-pthread), asked for one thread per call. Not the serial build: it keeps its work
# buffers unlocked, and the pool's threads call sgemm concurrently (measured: garbled answers at 2
# threads). Not the OpenMP build: it starts threads of its own inside calls made from threads it did
# not create.
find_file(KVLINK_OPENBLAS libopenblas.so.0 PATHS /usr/lib/x86_64-linux-gnu/openblas-pthread NO_DEFAULT_PATH)
if(NOT KVLINK_OPENBLAS)
  find_library(KVLINK_OPENBLAS NAMES openblas REQUIRED)
endif()
get_filename_component(KVLINK_OPENBLAS_PATH ${KVLINK_OPENBLAS} REALPATH)
message(STATUS "kvlink: OpenBLAS ${KVLINK_OPENBLAS_PATH} (loaded at run time)")
find_package(CLI11 CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
# cpp-httplib (libcpp-httplib-dev: Debian's build as a shared library) for kvlink-server.
find_package(PkgConfig REQUIRED)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
find_path(KVLINK_XXHASH_INCLUDE_DIR xxhash.h REQUIRED)
find_library(KVLINK_XXHASH_LIBRARY xxhash REQUIRED)
if(KVLINK_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(KVLINK_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
