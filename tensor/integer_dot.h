// Integer dot products for decoding and short prefills: the activations of a product are quantised
// once per block of 32 (BlockQ16A or BlockQ8A), and each Q4_0, Q4_1 or Q8_0 weight block is
// multiplied with them in integers (AVX2 madd / maddubs), one float multiply-add per block.
//  - INT16: activations rounded to 16 bits per block (relative error at most 1/65534 of the block's
//    largest value); the weights' 4- or 8-bit values widened to 16 bits and multiplied with pmaddwd,
//    each block's 32 products summed exactly in int32 before the one float multiply-add
//    (ref::dot_int16 says which float operations, in which order). Here eight weight rows at a time
//    in the lanes of a vector; with AVX-512 VNNI and more columns, tensor/integer_gemm.h, whose
//    numbers are the same. About as exact as F32 activations and faster than them.
//  - INT8: activations rounded to 8 bits (1/254 of the block's largest value), u8 x s8 maddubs, as
//    llama.cpp does for these types. Fastest, but this rounding changes the default model's answers
//    (docs/PRODUCTS.md).
// The F32-activation kernels of quant.h stay the reference arithmetic (Products::F32).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "tensor/dtype.h"
#include "tensor/quant.h"

namespace kvlink {

// How MUL_MAT's row kernel multiplies a quantised weight with its activation columns (up to 64
// columns of separate sequences or 8 tokens of one, tensor/graph.h's Columns).
enum class Products {
  F32,    // quantised blocks times F32 activations (quant.h): the reference arithmetic
  INT16,  // activations quantised to BlockQ16A, integer block products, where the type has them
  INT8,   // activations quantised to BlockQ8A, integer block products, where the type has them
};
inline constexpr Products kDefaultProducts = Products::INT16;
// "f32", "int16", "int8"; parse_products throws kvlink::Error on anything else.
const char* products_name(Products p);
Products parse_products(const std::string& name);
// The products' name and the revision of their arithmetic, for what identifies numbers made with
// them (cache keys): "int16-2" since int16 sums each block exactly in every kernel (2026-12-07).
const char* products_arithmetic(Products p);

// 32 activations: x ~ d * q with |q| <= 127 (BlockQ8A) or 32767 (BlockQ16A) and d = max |x| / that
// bound; s = d * sum(q), the block's sum, for the offset of Q4_1 (m) and Q4_0 (-8 d) weights.
struct BlockQ8A {
  float d;
  float s;
  int8_t qs[kQK];
};
struct BlockQ16A {
  float d;
  float s;
  int16_t qs[kQK];
};
static_assert(sizeof(BlockQ8A) == 40 && sizeof(BlockQ16A) == 72, "block layout");

// Whether `type` has integer kernels (Q4_0, Q4_1, Q8_0).
bool has_integer_kernel(DType type);

// n activations (a multiple of 32) into n / 32 blocks. Rounds to nearest, ties to even.
void quantize_activations(const float* x, int64_t n, BlockQ8A* out);
void quantize_activations(const float* x, int64_t n, BlockQ16A* out);

// out[c] = dot(row, x[c]) for c < n_x, over n elements, for a type with integer kernels. A column's
// arithmetic does not depend on n_x: a column gets the same number in a batched product as alone.
void dot_integer_columns(DType type, const void* row, const BlockQ8A* const* x, int64_t n_x, int64_t n, float* out);
void dot_integer_columns(DType type, const void* row, const BlockQ16A* const* x, int64_t n_x, int64_t n, float* out);

// The int8 columns' block scales side by side, so that a kernel takes 8 columns' d (or s) in one
// load: d[k * stride + c] = x[c][k].d, s likewise, stride = n_x rounded up to 16, zeros after n_x.
struct ColumnScales {
  const float* d = nullptr;
  const float* s = nullptr;
  int64_t stride = 0;
};
inline int64_t column_scales_stride(int64_t n_x) { return (n_x + 15) / 16 * 16; }
inline int64_t column_scales_size(int64_t n_x, int64_t n_blocks) { return n_blocks * column_scales_stride(n_x); }
void column_scales(const BlockQ8A* const* x, int64_t n_x, int64_t n_blocks, float* d, float* s);
// Two int16 values as the int32 that vpmaddwd and vpdpwssd take them in: lo in the low half.
inline int32_t int16_pair(int16_t lo, int16_t hi) {
  return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint16_t>(lo)) |
                              static_cast<uint32_t>(static_cast<uint16_t>(hi)) << 16);
}

// dot_integer_columns for n_rows rows, `stride` bytes apart, the int8 columns' scales prepared once:
// out[c * out_stride + r] = dot(row r, x[c]) (the layout of a product's output, y[t * N + r]), each
// number the one dot_integer_columns gives for its row and column alone.
void dot_integer_tile(DType type, const void* rows, size_t stride, int64_t n_rows, const BlockQ8A* const* x,
                      const ColumnScales& scales, int64_t n_x, int64_t n, float* out, int64_t out_stride);
void dot_integer_tile(DType type, const void* rows, size_t stride, int64_t n_rows, const BlockQ16A* const* x, int64_t n_x,
                      int64_t n, float* out, int64_t out_stride);

namespace ref {
void quantize_activations(const float* x, int64_t n, BlockQ8A* out);
void quantize_activations(const float* x, int64_t n, BlockQ16A* out);
// The scalar definition: sum over blocks of dw dx sum(qw qx) + mw sx (Q4_0: mw = -8 dw; Q8_0: no mw).
double dot_integer(DType type, const void* row, const BlockQ8A* x, int64_t n);
double dot_integer(DType type, const void* row, const BlockQ16A* x, int64_t n);
// What every int16 kernel computes, bit for bit: f = 0; per block k, with the exact int32 sum
// S = sum(qw qx), f = fma(float(S), dw dx, f) (dw dx a float product), then, unless Q8_0,
// f = fma(mw, sx, f).
float dot_int16(DType type, const void* row, const BlockQ16A* x, int64_t n);
}  // namespace ref

}  // namespace kvlink
