# System packages (Debian): OpenBLAS, CLI11, nlohmann-json, xxHash, GoogleTest and Google Benchmark.
# The kernels' threads are our own (tensor/thread_pool.h).
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
# OpenBLAS, loaded at run time by tensor/blas.cpp (so that its kernel set can be chosen first) from
# the path found here. Prefer Debian's serial build (libopenblas-serial-dev): the kernels call sgemm
# from the pool's threads, one tile each, and a threaded build would start its own threads inside
# every call (the OpenMP build does so from threads it did not create: measured, prefill at 2 threads
# took 1.7x as long).
find_library(KVLINK_OPENBLAS_SERIAL openblas PATHS /usr/lib/x86_64-linux-gnu/openblas-serial NO_DEFAULT_PATH)
if(KVLINK_OPENBLAS_SERIAL)
  set(KVLINK_OPENBLAS ${KVLINK_OPENBLAS_SERIAL})
else()
  find_library(KVLINK_OPENBLAS openblas REQUIRED)
endif()
get_filename_component(KVLINK_OPENBLAS_PATH ${KVLINK_OPENBLAS} REALPATH)
message(STATUS "kvlink: OpenBLAS ${KVLINK_OPENBLAS_PATH} (loaded at run time)")
find_package(CLI11 CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_path(KVLINK_XXHASH_INCLUDE_DIR xxhash.h REQUIRED)
find_library(KVLINK_XXHASH_LIBRARY xxhash REQUIRED)
if(KVLINK_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(KVLINK_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
