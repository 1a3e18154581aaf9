// The quantised-type kernels: hand-built blocks decode to the values the GGUF block layouts define,
// the dispatching (AVX2) kernels agree with the scalar references over random blocks and shapes
// (one block, odd block counts, tails), quantisation round trips stay within half a step, and
// matvec with 1 or 2 threads equals per-row dot products.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "tensor/error.h"
#include "tensor/f16.h"
#include "tensor/quant.h"

using namespace kvlink;

namespace {

const DType kAllTypes[] = {DType::F32, DType::F16, DType::Q4_0, DType::Q4_1, DType::Q8_0, DType::Q4_K, DType::Q6_K};

// Random but valid rows: random quant bytes, sane fp16 scales (so values stay finite).
std::vector<uint8_t> random_row(DType type, int64_t n, std::mt19937& rng) {
  std::vector<uint8_t> row(row_bytes(type, n));
  std::uniform_int_distribution<int> byte(0, 255);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& b : row) b = static_cast<uint8_t>(byte(rng));
  const size_t bb = type_traits(type).block_bytes;
  const int64_t blocks = n / type_traits(type).block_size;
  auto put_half = [&](uint8_t* p, float v) {
    const uint16_t h = fp32_to_fp16(v);
    std::memcpy(p, &h, 2);
  };
  for (int64_t k = 0; k < blocks; ++k) {
    uint8_t* b = row.data() + k * bb;
    switch (type) {
      case DType::F32: {
        const float v = normal(rng);
        std::memcpy(b, &v, 4);
        break;
      }
      case DType::F16: put_half(b, normal(rng)); break;
      case DType::Q4_0: case DType::Q8_0: put_half(b, 0.05f * normal(rng)); break;
      case DType::Q4_1: put_half(b, 0.05f * normal(rng)); put_half(b + 2, normal(rng)); break;
      case DType::Q4_K: put_half(b, 0.01f * normal(rng)); put_half(b + 2, 0.01f * normal(rng)); break;
      case DType::Q6_K: put_half(b + 208, 0.01f * normal(rng)); break;
      default: break;
    }
  }
  return row;
}

TEST(QuantBlocks, Q4_0DecodesLowNibblesFirst) {
  BlockQ4_0 b{};
  b.d = fp32_to_fp16(0.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float y[32];
  ref::dequantize_row(DType::Q4_0, &b, y, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * (j - 8));
    EXPECT_EQ(y[j + 16], 0.5f * (15 - j - 8));
  }
}

TEST(QuantBlocks, Q4_1AddsTheMinimum) {
  BlockQ4_1 b{};
  b.d = fp32_to_fp16(0.25f);
  b.m = fp32_to_fp16(-1.0f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | (j << 4));
  float y[32];
  ref::dequantize_row(DType::Q4_1, &b, y, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.25f * j - 1.0f);
    EXPECT_EQ(y[j + 16], 0.25f * j - 1.0f);
  }
}

TEST(QuantBlocks, Q8_0IsScaleTimesInt8) {
  BlockQ8_0 b{};
  b.d = fp32_to_fp16(0.125f);
  for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j * 8 - 128);
  float y[32];
  ref::dequantize_row(DType::Q8_0, &b, y, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.125f * (j * 8 - 128));
}

TEST(QuantBlocks, Q4_KUsesSixBitScalesAndMins) {
  // Sub-block j (32 elements) decodes as d*sc_j*q - dmin*m_j. Scales/mins 0..3 sit in the low 6 bits of
  // bytes 0..3 / 4..7; 4..7 take their low 4 bits from bytes 8..11 and their high 2 bits from the top
  // bits of bytes 0..3 / 4..7 (ggml's get_scale_min_k4).
  BlockQ4_K b{};
  b.d = fp32_to_fp16(0.5f);
  b.dmin = fp32_to_fp16(0.25f);
  const int sc[8] = {1, 2, 3, 63, 17, 33, 50, 7}, mn[8] = {0, 5, 9, 63, 20, 40, 1, 62};
  for (int j = 0; j < 4; ++j) {
    b.scales[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    b.scales[j + 4] = static_cast<uint8_t>((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
    b.scales[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
  }
  for (int l = 0; l < 128; ++l) b.qs[l] = static_cast<uint8_t>((l % 16) | ((15 - l % 16) << 4));
  float y[256];
  ref::dequantize_row(DType::Q4_K, &b, y, 256);
  for (int j = 0; j < 8; ++j) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t byte = b.qs[(j / 2) * 32 + l];
      const int q = (j % 2 == 0) ? (byte & 15) : (byte >> 4);
      EXPECT_EQ(y[j * 32 + l], 0.5f * sc[j] * q - 0.25f * mn[j]) << j << " " << l;
    }
  }
}

TEST(QuantBlocks, Q6_KCombinesLowAndHighBits) {
  // Element e of each 128-half: low 4 bits from ql, high 2 bits from qh, minus 32, times d*scale.
  BlockQ6_K b{};
  b.d = fp32_to_fp16(0.5f);
  for (int i = 0; i < 16; ++i) b.scales[i] = static_cast<int8_t>(i - 8);
  std::mt19937 rng(1);
  for (auto& v : b.ql) v = static_cast<uint8_t>(rng());
  for (auto& v : b.qh) v = static_cast<uint8_t>(rng());
  float y[256];
  ref::dequantize_row(DType::Q6_K, &b, y, 256);
  for (int half = 0; half < 2; ++half) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t* ql = b.ql + 64 * half;
      const uint8_t qh = b.qh[32 * half + l];
      const int8_t* s = b.scales + 8 * half;
      const int q[4] = {(ql[l] & 15) | ((qh & 3) << 4), (ql[l + 32] & 15) | (((qh >> 2) & 3) << 4),
                        (ql[l] >> 4) | (((qh >> 4) & 3) << 4), (ql[l + 32] >> 4) | (((qh >> 6) & 3) << 4)};
      for (int g = 0; g < 4; ++g) {
        EXPECT_EQ(y[128 * half + 32 * g + l], 0.5f * s[l / 16 + 2 * g] * (q[g] - 32));
      }
    }
  }
}

class QuantKernels : public ::testing::TestWithParam<DType> {};

TEST_P(QuantKernels, FastDequantiseEqualsReference) {
  const DType type = GetParam();
  std::mt19937 rng(2);
  const int64_t bs = type_traits(type).block_size;
  for (int64_t blocks : {1, 3, 7, 33}) {
    const int64_t n = blocks * (bs == 1 ? 37 : bs);  // plain types: odd lengths with SIMD tails
    const auto row = random_row(type, n, rng);
    std::vector<float> fast(n), slow(n);
    dequantize_row(type, row.data(), fast.data(), n);
    ref::dequantize_row(type, row.data(), slow.data(), n);
    // Both compute d*q (+m) in float from the same operands: bit-identical except that an FMA rounds
    // once where the reference rounds twice, i.e. within 1 ulp of the larger term.
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(fast[i], slow[i], 1e-6 * (1.0 + std::fabs(slow[i]))) << i;
  }
}

TEST_P(QuantKernels, FastDotEqualsReference) {
  const DType type = GetParam();
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t bs = type_traits(type).block_size;
  for (int64_t blocks : {1, 2, 7, 18}) {
    const int64_t n = blocks * (bs == 1 ? 41 : bs);
    const auto row = random_row(type, n, rng);
    std::vector<float> x(n), y(n);
    for (auto& v : x) v = normal(rng);
    ref::dequantize_row(type, row.data(), y.data(), n);
    double scale = 0;  // sum |y_i x_i|: the size of the float rounding the sum can accumulate
    for (int64_t i = 0; i < n; ++i) scale += std::fabs(double(y[i]) * x[i]);
    const double want = ref::dot_row(type, row.data(), x.data(), n);
    // float32 accumulation over n <= 4608 terms in a different order: |error| <= n * 2^-24 * sum|y x|
    // in the worst case; 1e-5 * sum|y x| is a tenth of that bound at n = 1,000 and far above what
    // reordering gives in practice.
    EXPECT_NEAR(dot_row(type, row.data(), x.data(), n), want, 1e-5 * scale + 1e-6) << dtype_name(type) << " n=" << n;
  }
}

TEST_P(QuantKernels, MatvecEqualsRowDots) {
  const DType type = GetParam();
  std::mt19937 rng(4);
  const int64_t n_cols = type_traits(type).block_size == 1 ? 96 : 2 * type_traits(type).block_size * 2;
  const int64_t n_rows = 131;
  const size_t rb = row_bytes(type, n_cols);
  std::vector<uint8_t> w;
  for (int64_t r = 0; r < n_rows; ++r) {
    const auto row = random_row(type, n_cols, rng);
    w.insert(w.end(), row.begin(), row.end());
  }
  std::vector<float> x(n_cols, 0.5f), y1(n_rows), y2(n_rows);
  for (int64_t i = 0; i < n_cols; ++i) x[i] = std::sin(0.1f * i);
  matvec(type, w.data(), rb, n_rows, n_cols, x.data(), y1.data(), 1);
  matvec(type, w.data(), rb, n_rows, n_cols, x.data(), y2.data(), 2);
  for (int64_t r = 0; r < n_rows; ++r) {
    EXPECT_EQ(y1[r], y2[r]);  // rows are independent: threads cannot change a row's arithmetic
    EXPECT_EQ(y1[r], dot_row(type, w.data() + r * rb, x.data(), n_cols));
  }
}

TEST_P(QuantKernels, RejectsPartialBlocks) {
  const DType type = GetParam();
  const int64_t bs = type_traits(type).block_size;
  if (bs == 1) GTEST_SKIP() << "plain types have no blocks";
  std::vector<uint8_t> row(row_bytes(type, bs));
  std::vector<float> out(bs);
  EXPECT_THROW(dequantize_row(type, row.data(), out.data(), bs - 1), Error);
  EXPECT_THROW(dot_row(type, row.data(), out.data(), bs + 1), Error);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, QuantKernels, ::testing::ValuesIn(kAllTypes),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

class QuantRoundTrip : public ::testing::TestWithParam<DType> {};

TEST_P(QuantRoundTrip, ErrorWithinHalfAStep) {
  const DType type = GetParam();
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = 32 * 9;
  std::vector<float> x(n), y(n);
  for (auto& v : x) v = normal(rng);
  std::vector<uint8_t> q(row_bytes(type, n));
  quantize_row(type, x.data(), q.data(), n);
  dequantize_row(type, q.data(), y.data(), n);
  for (int64_t k = 0; k < n / 32; ++k) {
    float lo = x[k * 32], hi = lo, amax = 0;
    for (int j = 0; j < 32; ++j) {
      lo = std::min(lo, x[k * 32 + j]);
      hi = std::max(hi, x[k * 32 + j]);
      amax = std::max(amax, std::fabs(x[k * 32 + j]));
    }
    // Step d of each format; rounding to the nearest level errs by at most d/2, plus the fp16
    // rounding of d and m (relative 2^-11) carried through |q| <= 15 or 127 levels.
    double step = 0, slack = 0;
    switch (type) {
      case DType::F32: step = 0; break;
      case DType::F16: step = 0; slack = amax * std::ldexp(1.0, -11); break;
      case DType::Q8_0: step = amax / 127; slack = amax * std::ldexp(1.0, -11); break;
      case DType::Q4_0: step = amax / 8; slack = 2 * amax * std::ldexp(1.0, -11); break;
      case DType::Q4_1: step = (hi - lo) / 15; slack = (hi - lo + std::fabs(lo)) * std::ldexp(1.0, -11); break;
      default: break;
    }
    // Q4_0 maps the extreme value to level -8 and the other side may need +8, beyond the top level 7:
    // that side clamps, erring by up to a full step.
    const double bound = (type == DType::Q4_0 ? step : step / 2) + slack + 1e-7;
    for (int j = 0; j < 32; ++j) EXPECT_LE(std::fabs(y[k * 32 + j] - x[k * 32 + j]), bound) << dtype_name(type);
  }
}

INSTANTIATE_TEST_SUITE_P(Quantisable, QuantRoundTrip,
                         ::testing::Values(DType::F32, DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_1),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(F16, EveryHalfRoundTripsAndF16cMatchesPortable) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_fp32_portable(static_cast<uint16_t>(h));
    const float g = fp16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(g));
      EXPECT_TRUE(std::isnan(fp16_to_fp32(fp32_to_fp16_portable(f))));
      continue;
    }
    EXPECT_EQ(std::memcmp(&f, &g, 4), 0) << h;
    EXPECT_EQ(fp32_to_fp16_portable(f), h) << h;
    EXPECT_EQ(fp32_to_fp16(f), h) << h;
  }
}

TEST(F16, PairConversionEqualsTwoSingleOnes) {
  // fp16x2_to_fp32 (a Q4_1 block's d and m) gives each half the value fp16_to_fp32 gives it.
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint16_t pair[2] = {static_cast<uint16_t>(h), static_cast<uint16_t>((h * 40503u + 1u) & 0xFFFFu)};
    float a, b;
    fp16x2_to_fp32(pair, &a, &b);
    const float want_a = fp16_to_fp32(pair[0]), want_b = fp16_to_fp32(pair[1]);
    if (!std::isnan(want_a)) EXPECT_EQ(std::memcmp(&a, &want_a, 4), 0) << h;
    else EXPECT_TRUE(std::isnan(a)) << h;
    if (!std::isnan(want_b)) EXPECT_EQ(std::memcmp(&b, &want_b, 4), 0) << h;
    else EXPECT_TRUE(std::isnan(b)) << h;
  }
}

TEST(F16, RoundingOfFloatsMatchesF16c) {
  std::mt19937 rng(6);
  for (int i = 0; i < 200000; ++i) {
    uint32_t bits = rng();
    float f;
    std::memcpy(&f, &bits, 4);
    if (std::isnan(f)) continue;
    EXPECT_EQ(fp32_to_fp16_portable(f), fp32_to_fp16(f)) << f;
  }
  // Ties round to even; just above the largest half rounds to it, past the midpoint to infinity.
  EXPECT_EQ(fp32_to_fp16_portable(1.0f + std::ldexp(1.0f, -11)), fp32_to_fp16_portable(1.0f));
  EXPECT_EQ(fp32_to_fp16_portable(65519.0f), 0x7bff);
  EXPECT_EQ(fp32_to_fp16_portable(65520.0f), 0x7c00);
  EXPECT_EQ(fp32_to_fp16_portable(std::ldexp(1.0f, -25)), 0);       // half the smallest subnormal: to even (0)
  EXPECT_EQ(fp32_to_fp16_portable(std::ldexp(1.5f, -25)), 1);       // above it: the smallest subnormal
}

}  // namespace
