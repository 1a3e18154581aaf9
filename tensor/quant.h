// Quantised block layouts (as GGUF stores them) and the row kernels over them: dequantisation,
// quantisation, and dot products of a quantised row with an F32 vector (the decode-time matvec).
// Every kernel has a scalar reference in namespace ref; the dispatching versions use AVX2/FMA when
// compiled in and must agree with the reference (tests/test_quant.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "tensor/dtype.h"
#include "tensor/f16.h"

namespace kvlink {

// ggml-common.h block layouts. d/m/dmin are IEEE fp16 bit patterns.
constexpr int kQK = 32;    // block size of Q4_0, Q4_1, Q8_0
constexpr int kQK_K = 256; // super-block size of the K-quants
struct BlockQ4_0 { uint16_t d; uint8_t qs[kQK / 2]; };                // x = d * (q - 8)
struct BlockQ4_1 { uint16_t d; uint16_t m; uint8_t qs[kQK / 2]; };    // x = d * q + m
struct BlockQ8_0 { uint16_t d; int8_t qs[kQK]; };                     // x = d * q
struct BlockQ4_K { uint16_t d; uint16_t dmin; uint8_t scales[12]; uint8_t qs[kQK_K / 2]; };
struct BlockQ6_K { uint8_t ql[kQK_K / 2]; uint8_t qh[kQK_K / 4]; int8_t scales[kQK_K / 16]; uint16_t d; };
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ8_0) == 34, "block layout");
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ6_K) == 210, "block layout");

// A Q4_0, Q4_1 or Q8_0 block's size and the offset of its values, as compile-time constants (the
// kernels' loop strides).
template <DType kType>
inline constexpr size_t kBlockBytes =
    kType == DType::Q4_0 ? sizeof(BlockQ4_0) : kType == DType::Q4_1 ? sizeof(BlockQ4_1) : sizeof(BlockQ8_0);
template <DType kType>
inline constexpr size_t kBlockValues =
    kType == DType::Q4_0 ? offsetof(BlockQ4_0, qs) : kType == DType::Q4_1 ? offsetof(BlockQ4_1, qs) : offsetof(BlockQ8_0, qs);
static_assert(kBlockValues<DType::Q4_1> == 4 && kBlockValues<DType::Q4_0> == 2 && kBlockValues<DType::Q8_0> == 2, "block layout");

// The scale d and offset m of a Q4_0, Q4_1 or Q8_0 block: x = d q + m, with q the stored value
// (Q4: 0..15; Q4_0 stores no m and uses m = -8 d, exact in float for an fp16 d; Q8_0: m = 0).
struct BlockScales {
  float d = 0.0f;
  float m = 0.0f;
};
inline BlockScales block_scales(DType type, const uint8_t* block) {
  BlockScales s;
  if (type == DType::Q4_1) {  // d and m side by side: one conversion
    fp16x2_to_fp32(block, &s.d, &s.m);
    return s;
  }
  uint16_t h;
  std::memcpy(&h, block, 2);
  s.d = fp16_to_fp32(h);
  if (type == DType::Q4_0) s.m = -8.0f * s.d;
  return s;
}

// n elements of `src` (type `type`, n a multiple of its block size) into F32. Supports every DType
// except I32.
void dequantize_row(DType type, const void* src, float* dst, int64_t n);
// n F32 values into `type`. Supports F32, F16, Q4_0, Q4_1, Q8_0 (and Q4_K, Q6_K for tests).
void quantize_row(DType type, const float* src, void* dst, int64_t n);
// Dot product of one row of `type` with an F32 vector of n elements.
float dot_row(DType type, const void* row, const float* x, int64_t n);
// out[c] = dot_row(type, row, x[c], n) for c < n_x, bit for bit, with the row's blocks unpacked once
// for several columns where the type has a kernel for it (Q4_0, Q4_1, Q8_0).
void dot_row_columns(DType type, const void* row, const float* const* x, int64_t n_x, int64_t n, float* out);

// y[r] = dot(row r of w, x) for r in [0, n_rows); rows are `row_stride` bytes apart. Parallel over
// rows on the thread pool (n_threads <= 0: one thread).
void matvec(DType type, const void* w, size_t row_stride, int64_t n_rows, int64_t n_cols,
            const float* x, float* y, int n_threads);

// Rows per chunk of a parallel product over n_rows weight rows: about eight chunks per thread, so a
// thread that another process holds up leaves little for the others to wait on; all of them (one
// chunk: the caller alone) below 64 rows, too few to share out.
inline int64_t matvec_grain(int64_t n_rows, int n_threads) {
  if (n_rows < 64) return n_rows;
  const int64_t g = n_rows / (8 * (n_threads > 0 ? n_threads : 1));
  return g < 16 ? 16 : g;
}

namespace ref {
void dequantize_row(DType type, const void* src, float* dst, int64_t n);
void quantize_row(DType type, const float* src, void* dst, int64_t n);
float dot_row(DType type, const void* row, const float* x, int64_t n);
}  // namespace ref

}  // namespace kvlink
