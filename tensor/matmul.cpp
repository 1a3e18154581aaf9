// MUL_MAT: y = W x for a weight W [K, N] of any type and F32 activations x [K, T].
// Few columns (decoding): quantised matvec straight from W's blocks. Many columns (prefill):
// dequantise a slab of W's rows into the work buffer and multiply with OpenBLAS sgemm, so the
// arithmetic runs at BLAS speed while W stays quantised in memory.
#include <cblas.h>

#include <algorithm>

#include "tensor/kernels.h"
#include "tensor/quant.h"

namespace kvlink {

namespace {
constexpr int64_t kMinGemmColumns = 8;          // below this, matvec per column is faster
constexpr int64_t kSlabFloats = int64_t{1} << 22;  // 16 MiB of dequantised weights at a time
}  // namespace

void kernel_mul_mat(Tensor* node, Arena& arena, int n_threads) {
  const Tensor* w = node->src[0];
  const Tensor* x = node->src[1];
  const int64_t K = w->ne[0];
  const int64_t N = w->ne[1];
  const int64_t T = x->n_rows();
  const auto* xd = static_cast<const float*>(x->data);
  auto* yd = static_cast<float*>(node->data);

  if (T < kMinGemmColumns) {
    for (int64_t t = 0; t < T; ++t) {
      matvec(w->type, w->data, w->nb[1], N, K, xd + t * K, yd + t * N, n_threads);
    }
    return;
  }
  openblas_set_num_threads(n_threads);
  if (w->type == DType::F32) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(T), static_cast<int>(N),
                static_cast<int>(K), 1.0f, xd, static_cast<int>(K), static_cast<const float*>(w->data),
                static_cast<int>(K), 0.0f, yd, static_cast<int>(N));
    return;
  }
  const int64_t slab_rows = std::max<int64_t>(1, std::min(N, kSlabFloats / K));
  float* slab = arena.work(static_cast<size_t>(slab_rows * K));
  for (int64_t r0 = 0; r0 < N; r0 += slab_rows) {
    const int64_t rows = std::min(slab_rows, N - r0);
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      dequantize_row(w->type, static_cast<const uint8_t*>(w->data) + static_cast<size_t>(r0 + r) * w->nb[1],
                     slab + r * K, K);
    }
    // Y[T, N] (row-major, the [N, T] tensor) columns r0.. = X[T, K] * slab[rows, K]^T
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(T), static_cast<int>(rows),
                static_cast<int>(K), 1.0f, xd, static_cast<int>(K), slab, static_cast<int>(K), 0.0f, yd + r0,
                static_cast<int>(N));
  }
}

}  // namespace kvlink
