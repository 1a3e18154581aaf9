// The rule both lane kernels (tensor/integer_lanes.h for int16 products, tensor/float_lanes.h for
// F32 ones) use for how many of a product's columns they take, 16 in the lanes of one AVX-512
// vector. Their accumulators' final sum and the walk over a tile stay written out in each kernel:
// shared as an inline function taking the accumulators by pointer, and as a loop calling the kernel
// through a lambda, each made the kernels 1.2-1.6x slower (interleaved runs; GCC 12 kept the
// accumulators in memory).
#pragma once
#include <cstdint>

namespace kvlink::lanes {

inline constexpr int64_t kLanes = 16;

// Of n_x columns, how many (the first ones) a lane kernel takes: the whole groups of 16 and a last
// group of min_last or more, padded.
inline int64_t columns_taken(int64_t n_x, int64_t min_last) {
  const int64_t whole = n_x / kLanes * kLanes;
  return n_x - whole >= min_last ? n_x : whole;
}

}  // namespace kvlink::lanes
