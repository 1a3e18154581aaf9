// IEEE half-precision <-> single-precision conversion: F16C instructions when compiled in,
// an exact bit-level fallback otherwise.
#pragma once
#include <cstdint>
#include <cstring>
#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace kvlink {

inline float fp16_to_fp32_portable(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Round-to-nearest-even, as the F16C instruction does.
inline uint16_t fp32_to_fp16_portable(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0));
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (abs < 0x38800000u) {  // result is subnormal (or zero): count in units of 2^-24
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);  // below half the smallest subnormal
    const uint32_t e = abs >> 23;
    const uint32_t m = (abs & 0x7fffffu) | 0x800000u;  // value = m * 2^(e-150)
    const int s = 126 - static_cast<int>(e);            // m * 2^(e-150) / 2^-24 = m >> s
    uint32_t q = m >> s;
    const uint32_t remainder = m & ((1u << s) - 1);
    const uint32_t halfway = 1u << (s - 1);
    if (remainder > halfway || (remainder == halfway && (q & 1u))) ++q;
    return static_cast<uint16_t>(sign | q);
  }
  uint32_t h = ((abs - 0x38000000u) >> 13);
  const uint32_t remainder = abs & 0x1fffu;
  if (remainder > 0x1000u || (remainder == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

inline float fp16_to_fp32(uint16_t h) {
#if defined(__F16C__)
  return _cvtsh_ss(h);
#else
  return fp16_to_fp32_portable(h);
#endif
}

// Two adjacent halves (p[0..1], p[2..3]) into F32 with one conversion: the same values as two
// fp16_to_fp32 calls.
inline void fp16x2_to_fp32(const void* p, float* first, float* second) {
#if defined(__F16C__)
  int32_t both;
  std::memcpy(&both, p, sizeof both);
  const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128(both));
  *first = _mm_cvtss_f32(f);
  *second = _mm_cvtss_f32(_mm_movehdup_ps(f));
#else
  uint16_t h[2];
  std::memcpy(h, p, sizeof h);
  *first = fp16_to_fp32_portable(h[0]);
  *second = fp16_to_fp32_portable(h[1]);
#endif
}

inline uint16_t fp32_to_fp16(float f) {
#if defined(__F16C__)
  return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
#else
  return fp32_to_fp16_portable(f);
#endif
}

}  // namespace kvlink
