// Single-precision matrix products through OpenBLAS, loaded at first use. Loading it ourselves lets
// the kernel set be chosen before the library initialises: OpenBLAS 0.3.21 (Debian 12) does not
// recognise recent CPUs and falls back to its SSE3 "Prescott" kernels (measured on this project's
// Xeon with AVX-512: prefill of 512 tokens at 125 tokens/s, against 480 with the SkylakeX kernels).
// Unless OPENBLAS_CORETYPE is set, it is set from the CPU's features (AVX-512 F/DQ/BW/VL: SkylakeX;
// AVX2 and FMA: Haswell). Calls are single-threaded (OPENBLAS_NUM_THREADS=1 unless set): the
// parallelism is the thread pool's, whose threads may call sgemm at the same time (the library must
// be a thread-safe build: Debian's pthread one, cmake/Dependencies.cmake).
#pragma once
#include <string>

namespace kvlink {

// C[m, n] = alpha * A[m, k] * op(B) + beta * C, all row-major; op(B) = B^T with B [n, k] when
// trans_b, else B [k, n]. Throws tensor Error when OpenBLAS cannot be loaded.
void sgemm(bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb, float beta,
           float* c, int ldc);

// The kernel set OpenBLAS runs ("SkylakeX", ...), loading it if needed.
std::string blas_core_name();

}  // namespace kvlink
