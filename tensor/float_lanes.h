// The F32 products (`--products f32`) of a Q4_0 or Q4_1 weight with many columns, where the CPU
// has AVX-512F (chosen at run time): 16 columns lie in the lanes of one vector. The columns are laid
// out once per product: for each group of 16 and each weight block, the block's 32 elements, each as
// the 16 columns' values side by side, then the 8 sums of activations that the row kernel multiplies
// with the block's offset. Per block and weight row, each of the row's 32 weights, unpacked to a
// float, is broadcast and multiplied with the 16 columns' values of its element.
//
// A column's number is made exactly as the row kernel makes it (tensor/quant.cpp, dot_q4_columns):
// lane l of its 8 accumulators takes, per block, the product of elements l, l + 8, l + 16 and l + 24
// (one multiply and three FMAs in that order) times d in one FMA, then the offset m times
// (x_l + x_{l+8}) + (x_{l+16} + x_{l+24}) in one more, and the 8 lanes are summed in hsum's order at
// the end. So a column gets the same bits in a batch as alone, and batched decoding with f32
// products still equals decoding alone, while a block costs 6 vector operations per accumulator for
// 16 columns instead of the row kernel's 9 of 8 lanes per column.
#pragma once
#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"

namespace kvlink::float_lanes {

// A last group of at least this many columns goes to the lane kernel padded; fewer take the row
// kernel's groups of 4 (1536 x 576 Q4_1 on the AVX-512 AMD EPYC, 1 thread, medians of 5: 16 columns
// take 0.70x the row kernel's time, 32 columns 0.67x, 8 columns padded to 16 1.14x, so a padded
// group pays from about 10 real columns).
inline constexpr int64_t kMinLanes = 10;

// How many of n_x columns (the first ones) the lane kernel takes for a weight of `type` on this
// CPU: 0 without AVX-512F or for a type other than Q4_0 and Q4_1, else the whole groups of 16 and a
// last group of kMinLanes or more.
int64_t lane_columns(DType type, int64_t n_x);

// Floats of the layout of n_x columns of n elements (n a multiple of 32).
size_t layout_floats(int64_t n_x, int64_t n);
// Lays out the n_x columns x[c][0..n) for dot_tile16; the lanes past n_x in the last group are 0.
void lay_out(const float* const* x, int64_t n_x, int64_t n, float* laid);

// n_rows rows (`stride` bytes apart) by the n_x laid-out columns: out[c * out_stride + r].
// n_x must be lane_columns(type, n_x).
void dot_tile16(DType type, const void* rows, size_t stride, int64_t n_rows, const float* laid, int64_t n_x, int64_t n,
                float* out, int64_t out_stride);

}  // namespace kvlink::float_lanes
