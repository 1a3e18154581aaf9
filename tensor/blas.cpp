#include "tensor/blas.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

#include "tensor/error.h"

#ifndef KVLINK_OPENBLAS_PATH
#define KVLINK_OPENBLAS_PATH "libopenblas.so.0"
#endif

namespace kvlink {

namespace {

// cblas_sgemm's signature and constants (cblas.h), so that no header or link-time library is needed.
using SgemmFn = void (*)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha, const float* a, int lda,
                         const float* b, int ldb, float beta, float* c, int ldc);
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

struct Blas {
  SgemmFn sgemm = nullptr;
  const char* (*core_name)() = nullptr;
};

// The kernel set to ask for when the user did not: the widest one this CPU runs.
const char* core_type_for_this_cpu() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl")) {
    return "SkylakeX";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return nullptr;
}

Blas load() {
  const char* core = core_type_for_this_cpu();
  if (core && !std::getenv("OPENBLAS_CORETYPE")) setenv("OPENBLAS_CORETYPE", core, 0);
  setenv("OPENBLAS_NUM_THREADS", "1", 0);  // a threaded build starts no threads of its own
  void* lib = dlopen(KVLINK_OPENBLAS_PATH, RTLD_NOW | RTLD_LOCAL);
  if (!lib) throw Error(std::string("cannot load OpenBLAS (") + KVLINK_OPENBLAS_PATH + "): " + dlerror());
  Blas b;
  b.sgemm = reinterpret_cast<SgemmFn>(dlsym(lib, "cblas_sgemm"));
  if (!b.sgemm) throw Error(std::string("OpenBLAS at ") + KVLINK_OPENBLAS_PATH + " has no cblas_sgemm");
  b.core_name = reinterpret_cast<const char* (*)()>(dlsym(lib, "openblas_get_corename"));
  // The pool's threads call sgemm concurrently, each call on its own thread.
  if (auto set_threads = reinterpret_cast<void (*)(int)>(dlsym(lib, "openblas_set_num_threads"))) set_threads(1);
  return b;
}

const Blas& blas() {
  static std::once_flag once;
  static Blas b;
  std::call_once(once, [] { b = load(); });  // a throw leaves the flag unset: the next call tries again
  return b;
}

}  // namespace

void sgemm(bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb, float beta,
           float* c, int ldc) {
  blas().sgemm(kRowMajor, kNoTrans, trans_b ? kTrans : kNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

std::string blas_core_name() {
  const Blas& b = blas();
  return b.core_name ? b.core_name() : "unknown";
}

}  // namespace kvlink
