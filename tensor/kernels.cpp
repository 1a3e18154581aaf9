#include "tensor/kernels.h"

#include <cmath>
#include <string>
#include <vector>

#include "tensor/error.h"
#include "tensor/f16.h"
#include "tensor/ops.h"
#include "tensor/quant.h"
#include "tensor/thread_pool.h"

namespace kvlink {

namespace {
float* rowf(Tensor* t, int64_t r) { return reinterpret_cast<float*>(static_cast<uint8_t*>(t->data) + r * t->nb[1]); }
const float* rowf(const Tensor* t, int64_t r) {
  return reinterpret_cast<const float*>(static_cast<const uint8_t*>(t->data) + r * t->nb[1]);
}
}  // namespace

void kernel_get_rows(Tensor* node, int n_threads) {
  const Tensor* table = node->src[0];
  const auto* ids = static_cast<const int32_t*>(node->src[1]->data);
  const Tensor* ext = node->src[2];  // rows for ids table->ne[1].. (may be null)
  const int64_t n = node->ne[1];
  const int64_t n_total = table->ne[1] + (ext ? ext->ne[1] : 0);
  for (int64_t i = 0; i < n; ++i) {  // validated before the parallel loop: no throwing inside it
    if (ids[i] < 0 || ids[i] >= n_total) {
      throw Error("token id " + std::to_string(ids[i]) + " is outside the vocabulary of " + std::to_string(n_total));
    }
  }
  parallel_for_each(n_threads, n, 16, [&](int64_t i, int) {
    const bool in_ext = ids[i] >= table->ne[1];
    const Tensor* t = in_ext ? ext : table;
    const int64_t row = in_ext ? ids[i] - table->ne[1] : ids[i];
    const auto* src = static_cast<const uint8_t*>(t->data) + static_cast<size_t>(row) * t->nb[1];
    dequantize_row(t->type, src, rowf(node, i), t->ne[0]);
  });
}

void kernel_rms_norm(Tensor* node, int n_threads) {
  const Tensor* x = node->src[0];
  const float* w = static_cast<const float*>(node->src[1]->data);
  const float eps = node->fparams[0];
  const int64_t n = x->ne[0];
  const int64_t rows = x->n_rows();
  parallel_for_each(n_threads, rows, 16, [&](int64_t r, int) {
    const float* in = rowf(x, r);
    float* out = rowf(node, r);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(in[i]) * in[i];
    const float scale = static_cast<float>(1.0 / std::sqrt(sum / static_cast<double>(n) + eps));
    for (int64_t i = 0; i < n; ++i) out[i] = in[i] * scale * w[i];
  });
}

void kernel_add(Tensor* node, int n_threads) {
  const Tensor* a = node->src[0];
  const Tensor* b = node->src[1];
  const int64_t n = a->ne[0];
  const int64_t rows = a->n_rows();
  const bool broadcast = b->n_rows() == 1;
  parallel_for_each(n_threads, rows, 16, [&](int64_t r, int) {
    const float* x = rowf(a, r);
    const float* y = rowf(b, broadcast ? 0 : r);
    float* out = rowf(node, r);
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] + y[i];
  });
}

void rope_cos_sin(const RopeParams& p, const float* freq_factors, double position, float* cos_out, float* sin_out) {
  const int32_t half = p.n_rot / 2;
  const double pos = position * static_cast<double>(p.freq_scale);
  for (int32_t i = 0; i < half; ++i) {
    // theta_i = pos * base^(-2i/n_rot) / factor[i]: RoFormer eq. 15, with Llama-3's per-pair divisors.
    const double inv_freq = std::pow(static_cast<double>(p.freq_base), -2.0 * i / p.n_rot) / (freq_factors ? freq_factors[i] : 1.0);
    cos_out[i] = static_cast<float>(std::cos(pos * inv_freq));
    sin_out[i] = static_cast<float>(std::sin(pos * inv_freq));
  }
}

void rope_rotate_head(const RopeParams& p, int32_t head_dim, const float* cos_t, const float* sin_t, const float* in,
                      float* out) {
  const int32_t half = p.n_rot / 2;
  for (int32_t i = 0; i < half; ++i) {
    // NORM pairs adjacent elements; NEOX pairs element i with element i + n_rot/2.
    const int32_t i0 = p.mode == RopeMode::NEOX ? i : 2 * i;
    const int32_t i1 = p.mode == RopeMode::NEOX ? i + half : 2 * i + 1;
    const float c = cos_t[i], s = sin_t[i];
    const float a = in[i0], b = in[i1];
    out[i0] = a * c - b * s;
    out[i1] = a * s + b * c;
  }
  for (int32_t i = p.n_rot; i < head_dim; ++i) out[i] = in[i];
}

void kernel_rope(Tensor* node, int n_threads) {
  const Tensor* x = node->src[0];
  const auto* pos = static_cast<const int32_t*>(node->src[1]->data);
  const float* factors = node->src[2] ? static_cast<const float*>(node->src[2]->data) : nullptr;
  const int32_t head_dim = node->iparams[0];
  RopeParams p;
  p.mode = static_cast<RopeMode>(node->iparams[1]);
  p.n_rot = node->iparams[2];
  p.freq_base = node->fparams[0];
  p.freq_scale = node->fparams[1];
  const int64_t width = x->ne[0];
  const int64_t rows = x->n_rows();
  const size_t half = static_cast<size_t>(p.n_rot / 2);
  parallel_for(n_threads, rows, 4, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> cos_t(half), sin_t(half);  // once per chunk, not per row
    for (int64_t r = r0; r < r1; ++r) {
      rope_cos_sin(p, factors, static_cast<double>(pos[r]), cos_t.data(), sin_t.data());
      const float* in = rowf(x, r);
      float* out = rowf(node, r);
      for (int64_t h = 0; h < width; h += head_dim) rope_rotate_head(p, head_dim, cos_t.data(), sin_t.data(), in + h, out + h);
    }
  });
}

void kernel_swiglu(Tensor* node, int n_threads) {
  const Tensor* gate = node->src[0];
  const Tensor* up = node->src[1];
  const int64_t n = gate->ne[0];
  const int64_t rows = gate->n_rows();
  parallel_for_each(n_threads, rows, 4, [&](int64_t r, int) {
    const float* g = rowf(gate, r);
    const float* u = rowf(up, r);
    float* out = rowf(node, r);
    for (int64_t i = 0; i < n; ++i) out[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  });
}

void kernel_store_kv(Tensor* node, int n_threads) {
  Tensor* cache = node->src[0];
  const Tensor* x = node->src[1];
  const auto* row_ids = node->src[2] ? static_cast<const int32_t*>(node->src[2]->data) : nullptr;
  const int64_t first = node->iparams[0];
  const int64_t rows = x->n_rows();
  for (int64_t r = 0; row_ids && r < rows; ++r) {  // validated before the parallel loop: no throwing inside it
    if (row_ids[r] < 0 || row_ids[r] >= cache->ne[1]) {
      throw Error("store_kv: row " + std::to_string(row_ids[r]) + " is outside the cache of " + std::to_string(cache->ne[1]));
    }
  }
  parallel_for_each(n_threads, rows, 16, [&](int64_t r, int) {
    const int64_t row = row_ids ? row_ids[r] : first + r;
    auto* dst = static_cast<uint8_t*>(cache->data) + static_cast<size_t>(row) * cache->nb[1];
    quantize_row(cache->type, rowf(x, r), dst, x->ne[0]);
  });
}

}  // namespace kvlink
