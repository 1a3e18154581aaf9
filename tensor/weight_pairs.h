// A Q4_0, Q4_1 or Q8_0 weight block as int16 pairs, for the INT16 kernels that broadcast one pair
// of the block against the same pair of 16 columns (tensor/integer_gemm.cpp). Internal to that
// kernel; compiled where the compiler targets AVX2 (KVLINK_WEIGHT_PAIRS), its AVX-512 VNNI form
// for a CPU that has it (checked at run time).
#pragma once
#include <cstdint>

#include "tensor/dtype.h"
#include "tensor/quant.h"

namespace kvlink::weight_pairs {
inline constexpr int kPairs = kQK / 2;  // int16 pairs per block
}  // namespace kvlink::weight_pairs

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__) && defined(__GNUC__)
#include <immintrin.h>
#define KVLINK_WEIGHT_PAIRS 1
#define KVLINK_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

namespace kvlink::weight_pairs {

// A weight block's values as int16 in element order, where the kernels broadcast them from pair by
// pair, each with a load (vpbroadcastd from memory: a load port's work). Written as a plain
// intrinsic, the compiler keeps the block in registers and extracts every pair with two ALU
// operations instead (1.4x slower products, measured), and an optimisation barrier on the block
// makes it spill the accumulators; hence the one-instruction asm in broadcast().
struct alignas(32) WeightPairs {
  int16_t v[kQK];
  const int32_t* pair(int p) const { return reinterpret_cast<const int32_t*>(v + 2 * p); }
};

// Q4: the 16 bytes widened once, then their low nibbles (elements 0..15) and high (16..31), as the
// stored values 0..15 (the block's offset m is applied by the caller). Q8_0: the signed bytes.
template <DType kType>
inline void load_pairs(const uint8_t* block, WeightPairs* w) {
  const uint8_t* qs = block + kBlockValues<kType>;
  __m256i lo, hi;
  if constexpr (kType == DType::Q8_0) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs));
    lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(raw));
    hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(raw, 1));
  } else {
    const __m256i bytes = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
    lo = _mm256_and_si256(bytes, _mm256_set1_epi16(0x0F));
    hi = _mm256_srli_epi16(bytes, 4);
  }
  _mm256_store_si256(reinterpret_cast<__m256i*>(w->v), lo);
  _mm256_store_si256(reinterpret_cast<__m256i*>(w->v + 16), hi);
}

KVLINK_VNNI inline __m512i broadcast(const int32_t* p) {
  __m512i r;
  asm("vpbroadcastd %1, %0" : "=v"(r) : "m"(*p));
  return r;
}

// The same broadcast into the 8 lanes of an AVX2 vector (the kernel for CPUs without AVX-512 VNNI).
inline __m256i broadcast8(const int32_t* p) {
  __m256i r;
  asm("vpbroadcastd %1, %0" : "=x"(r) : "m"(*p));
  return r;
}

// (the masked conversion: GCC 12 warns of the plain one's undefined source)
KVLINK_VNNI inline __m512 to_float(__m512i i) { return _mm512_mask_cvtepi32_ps(_mm512_setzero_ps(), 0xFFFF, i); }

}  // namespace kvlink::weight_pairs
#endif
