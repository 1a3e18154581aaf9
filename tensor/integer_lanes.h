// The INT16 products of many columns (tensor/integer_dot.h), internal to it, where the CPU has
// AVX-512 VNNI (chosen at run time): 16 columns lie in the lanes of one vector. Per weight block,
// each of its 16 int16 pairs is broadcast and multiplied with the same pair of the 16 columns
// (vpmaddwd, vpdpwssd), taken from the columns' values interleaved by pairs (column_pairs). A
// column's number is made exactly as integer_dot's row kernel makes it: 8 accumulators, accumulator
// l taking the exact integer sum of pairs l and l + 8 times dw dx with one FMA per block, the block
// offsets in one more, the 8 summed in hsum256's order; so batched decoding still equals decoding
// alone, while a block costs about 4 vector instructions per 16 columns and accumulator instead
// of the row kernel's 6 per column.
#pragma once
#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"
#include "tensor/integer_dot.h"

namespace kvlink::lanes {

// A last group of at least this many columns goes to the lane kernel padded; fewer are faster in
// the row kernel's groups of 8 (1536 x 576 on the AVX-512 Xeon, 1 thread: 16 columns take 0.65x
// the row kernel's time, so a padded group pays from about 10 real columns).
inline constexpr int64_t kMinLanes = 12;

// How many of n_x columns (the first ones) the lane kernel takes on this CPU: 0 without AVX-512
// VNNI, else the whole groups of 16 and a last group of kMinLanes or more.
int64_t lane_columns(int64_t n_x);

// n_rows rows by the n_x = lane_columns(n_x) columns: out[c * out_stride + r]; cs.pairs must be given.
void dot_tile16(DType type, const void* rows, size_t stride, int64_t n_rows, const ColumnScales& cs, int64_t n_x,
                int64_t n_blocks, float* out, int64_t out_stride);

}  // namespace kvlink::lanes
