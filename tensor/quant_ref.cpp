// Scalar reference kernels for the quantised types: the definition the fast paths are tested against.
// Block layouts and element order follow ggml (ggml-common.h, ggml-quants.c).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "tensor/error.h"
#include "tensor/f16.h"
#include "tensor/quant.h"

namespace kvlink::ref {

namespace {

// Q4_K packs 8 six-bit scales and 8 six-bit mins into 12 bytes (ggml's get_scale_min_k4).
void scale_min_k4(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

void dequant_q4_k(const BlockQ4_K& b, float* y) {
  const float d = fp16_to_fp32(b.d), dmin = fp16_to_fp32(b.dmin);
  const uint8_t* q = b.qs;
  for (int j = 0, is = 0; j < kQK_K; j += 64, is += 2, q += 32) {
    int sc, m;
    scale_min_k4(is, b.scales, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    scale_min_k4(is + 1, b.scales, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) y[j + l] = d1 * (q[l] & 0xF) - m1;
    for (int l = 0; l < 32; ++l) y[j + 32 + l] = d2 * (q[l] >> 4) - m2;
  }
}

void dequant_q6_k(const BlockQ6_K& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  const uint8_t* ql = b.ql;
  const uint8_t* qh = b.qh;
  const int8_t* sc = b.scales;
  for (int n = 0; n < kQK_K; n += 128, ql += 64, qh += 32, sc += 8) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[n + l] = d * sc[is] * q1;
      y[n + l + 32] = d * sc[is + 2] * q2;
      y[n + l + 64] = d * sc[is + 4] * q3;
      y[n + l + 96] = d * sc[is + 6] * q4;
    }
  }
}

int nearest(float x) { return static_cast<int>(std::lround(x)); }

}  // namespace

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  row_bytes(type, n);  // throws unless n is a whole number of blocks
  switch (type) {
    case DType::F32:
      std::copy_n(static_cast<const float*>(src), n, dst);
      return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32_portable(static_cast<const uint16_t*>(src)[i]);
      return;
    case DType::Q4_0:
      for (int64_t k = 0; k < n / kQK; ++k) {
        const auto& b = static_cast<const BlockQ4_0*>(src)[k];
        const float d = fp16_to_fp32_portable(b.d);
        for (int j = 0; j < kQK / 2; ++j) {
          dst[k * kQK + j] = d * ((b.qs[j] & 0xF) - 8);
          dst[k * kQK + j + kQK / 2] = d * ((b.qs[j] >> 4) - 8);
        }
      }
      return;
    case DType::Q4_1:
      for (int64_t k = 0; k < n / kQK; ++k) {
        const auto& b = static_cast<const BlockQ4_1*>(src)[k];
        const float d = fp16_to_fp32_portable(b.d), m = fp16_to_fp32_portable(b.m);
        for (int j = 0; j < kQK / 2; ++j) {
          dst[k * kQK + j] = d * (b.qs[j] & 0xF) + m;
          dst[k * kQK + j + kQK / 2] = d * (b.qs[j] >> 4) + m;
        }
      }
      return;
    case DType::Q8_0:
      for (int64_t k = 0; k < n / kQK; ++k) {
        const auto& b = static_cast<const BlockQ8_0*>(src)[k];
        const float d = fp16_to_fp32_portable(b.d);
        for (int j = 0; j < kQK; ++j) dst[k * kQK + j] = d * b.qs[j];
      }
      return;
    case DType::Q4_K:
      for (int64_t k = 0; k < n / kQK_K; ++k) dequant_q4_k(static_cast<const BlockQ4_K*>(src)[k], dst + k * kQK_K);
      return;
    case DType::Q6_K:
      for (int64_t k = 0; k < n / kQK_K; ++k) dequant_q6_k(static_cast<const BlockQ6_K*>(src)[k], dst + k * kQK_K);
      return;
    case DType::I32:
      break;
  }
  throw Error(std::string("cannot dequantize ") + dtype_name(type));
}

void quantize_row(DType type, const float* src, void* dst, int64_t n) {
  row_bytes(type, n);  // throws unless n is a whole number of blocks
  switch (type) {
    case DType::F32:
      std::copy_n(src, n, static_cast<float*>(dst));
      return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = fp32_to_fp16_portable(src[i]);
      return;
    case DType::Q8_0:  // d = max|x| / 127, q = round(x / d)
      for (int64_t k = 0; k < n / kQK; ++k) {
        const float* x = src + k * kQK;
        auto& b = static_cast<BlockQ8_0*>(dst)[k];
        float amax = 0.0f;
        for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b.d = fp32_to_fp16_portable(d);
        for (int j = 0; j < kQK; ++j) b.qs[j] = static_cast<int8_t>(nearest(x[j] * id));
      }
      return;
    case DType::Q4_0:  // d = (value of largest magnitude) / -8, q = clamp(round(x / d) + 8, 0, 15)
      for (int64_t k = 0; k < n / kQK; ++k) {
        const float* x = src + k * kQK;
        auto& b = static_cast<BlockQ4_0*>(dst)[k];
        float amax = 0.0f, vmax = 0.0f;
        for (int j = 0; j < kQK; ++j) {
          if (std::fabs(x[j]) > amax) {
            amax = std::fabs(x[j]);
            vmax = x[j];
          }
        }
        const float d = vmax / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b.d = fp32_to_fp16_portable(d);
        for (int j = 0; j < kQK / 2; ++j) {
          const int lo = std::clamp(nearest(x[j] * id) + 8, 0, 15);
          const int hi = std::clamp(nearest(x[j + kQK / 2] * id) + 8, 0, 15);
          b.qs[j] = static_cast<uint8_t>(lo | (hi << 4));
        }
      }
      return;
    case DType::Q4_1:  // d = (max - min) / 15, m = min, q = clamp(round((x - m) / d), 0, 15)
      for (int64_t k = 0; k < n / kQK; ++k) {
        const float* x = src + k * kQK;
        auto& b = static_cast<BlockQ4_1*>(dst)[k];
        const auto [mn, mx] = std::minmax_element(x, x + kQK);
        const float d = (*mx - *mn) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b.d = fp32_to_fp16_portable(d);
        b.m = fp32_to_fp16_portable(*mn);
        for (int j = 0; j < kQK / 2; ++j) {
          const int lo = std::clamp(nearest((x[j] - *mn) * id), 0, 15);
          const int hi = std::clamp(nearest((x[j + kQK / 2] - *mn) * id), 0, 15);
          b.qs[j] = static_cast<uint8_t>(lo | (hi << 4));
        }
      }
      return;
    default:
      break;
  }
  throw Error(std::string("cannot quantize to ") + dtype_name(type));
}

float dot_row(DType type, const void* row, const float* x, int64_t n) {
  std::vector<float> y(static_cast<size_t>(n));
  ref::dequantize_row(type, row, y.data(), n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(y[static_cast<size_t>(i)]) * x[i];
  return static_cast<float>(sum);
}

}  // namespace kvlink::ref
