# System packages from the design card (Debian): OpenBLAS, OpenMP, CLI11, nlohmann-json, xxHash,
# GoogleTest and Google Benchmark.
find_package(OpenMP REQUIRED)
# Prefer Debian's OpenMP build of OpenBLAS (libopenblas-openmp-dev): it shares the OpenMP thread team
# with our kernels, where the pthread build would start a second set of threads competing for the
# same cores.
find_library(KVLINK_OPENBLAS_OPENMP openblas PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp NO_DEFAULT_PATH)
if(KVLINK_OPENBLAS_OPENMP)
  set(BLAS_LIBRARIES ${KVLINK_OPENBLAS_OPENMP})
  find_path(KVLINK_CBLAS_INCLUDE_DIR cblas.h PATHS /usr/include/x86_64-linux-gnu/openblas-openmp NO_DEFAULT_PATH)
else()
  set(BLA_VENDOR OpenBLAS)
  find_package(BLAS REQUIRED)
  find_path(KVLINK_CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas x86_64-linux-gnu/openblas-pthread x86_64-linux-gnu REQUIRED)
endif()
message(STATUS "kvlink: BLAS ${BLAS_LIBRARIES} (cblas.h in ${KVLINK_CBLAS_INCLUDE_DIR})")
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
