#include "tensor/attention_groups.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/error.h"
#include "tensor/ops.h"
#include "tensor/simd.h"
#include "tensor/thread_pool.h"

namespace kvlink {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// One group's softmax over a set of key segments of `scores`: the entries become exp(score - max) in
// place; returns (max, sum). A group that sees no key (all -inf, or no segment) has sum 0.
struct GroupSoftmax {
  float max = kNegInf;
  double sum = 0;
  double lse() const { return sum > 0 ? max + std::log(sum) : -std::numeric_limits<double>::infinity(); }
};

GroupSoftmax group_softmax(float* scores, std::initializer_list<std::pair<int64_t, int64_t>> segments) {
  GroupSoftmax g;
  for (const auto& [b, e] : segments) {
    if (e > b) g.max = std::max(g.max, vec_max(scores + b, e - b));
  }
  for (const auto& [b, e] : segments) {
    if (e <= b) continue;
    if (g.max == kNegInf) {
      std::fill(scores + b, scores + e, 0.0f);
    } else {
      g.sum += vec_exp_sum(scores + b, e - b, g.max);
    }
  }
  return g;
}

// The two groups' weights in the merge: e^{S L_C} and e^{L_N}, normalised; a group with no visible
// row gets weight 0.
void merge_weights(const GroupSoftmax& c, const GroupSoftmax& n, double lse_scale, double* wc, double* wn) {
  if (c.sum <= 0 || n.sum <= 0) {
    *wc = c.sum > 0 ? 1 : 0;
    *wn = n.sum > 0 ? 1 : 0;
    return;
  }
  const double a = lse_scale * c.lse(), b = n.lse();
  const double m = std::max(a, b);
  const double ea = std::exp(a - m), eb = std::exp(b - m);
  *wc = ea / (ea + eb);
  *wn = eb / (ea + eb);
}

}  // namespace

void group_probabilities(float* scores, int64_t n, int64_t a, int64_t b, float temperature, float lse_scale) {
  const float inv_temperature = 1.0f / temperature;
  for (int64_t i = a; i < b; ++i) scores[i] *= inv_temperature;
  const GroupSoftmax gc = group_softmax(scores, {{a, b}});
  const GroupSoftmax gn = group_softmax(scores, {{0, a}, {b, n}});
  double wc = 0, wn = 0;
  merge_weights(gc, gn, lse_scale, &wc, &wn);
  const auto fc = static_cast<float>(gc.sum > 0 ? wc / gc.sum : 0.0), fn = static_cast<float>(gn.sum > 0 ? wn / gn.sum : 0.0);
  for (int64_t i = 0; i < n; ++i) scores[i] *= i >= a && i < b ? fc : fn;
}

void check_context_groups(const Tensor* node) {
  const KeyVisibility vis = key_visibility_of(node);
  const auto* span = static_cast<const int32_t*>(vis.groups.span->data);
  const auto* temp_scale = static_cast<const float*>(vis.groups.temp_scale->data);
  for (int64_t t = 0; t < node->src[0]->n_rows(); ++t) {
    if (span[2 * t] < 0 || span[2 * t] > span[2 * t + 1] || span[2 * t + 1] > vis.n_kv) {
      throw Error("attention: context span of query " + std::to_string(t) + " is outside the keys");
    }
    if (span[2 * t] < span[2 * t + 1] && !(temp_scale[2 * t] > 0 && temp_scale[2 * t + 1] > 0)) {
      throw Error("attention: context temperature and scale must be positive");
    }
  }
}

void attention_context_groups(Tensor* node, int n_threads) {
  const Tensor* q = node->src[0];
  const Tensor* k = node->src[1];
  const Tensor* v = node->src[2];
  const AttentionParams p = attention_params_of(node);
  const KeyVisibility vis = key_visibility_of(node);
  const Tensor* mask = vis.mask;
  const auto* q_rows = static_cast<const int32_t*>(vis.last_row->data);
  const auto* q_first = vis.first_row ? static_cast<const int32_t*>(vis.first_row->data) : nullptr;
  const auto* span = static_cast<const int32_t*>(vis.groups.span->data);
  const auto* temp_scale = static_cast<const float*>(vis.groups.temp_scale->data);
  const int64_t hd = p.head_dim, n_head = p.n_head, n_head_kv = p.n_head_kv;
  const int64_t n_kv = vis.n_kv;
  const float scale = p.scale;
  const int64_t group = n_head / n_head_kv;
  const int64_t n_q = q->n_rows();
  const bool f16 = k->type == DType::F16;
  check_context_groups(node);  // before the parallel loop: no throwing inside it
  const size_t elem = f16 ? sizeof(uint16_t) : sizeof(float);
  parallel_for(n_threads, n_q * n_head, 1, [&](int64_t task0, int64_t task1, int) {
    std::vector<float> scores(static_cast<size_t>(n_kv));
    for (int64_t task = task0; task < task1; ++task) {
      const int64_t t = task / n_head, h = task % n_head;
      if (span[2 * t] == span[2 * t + 1]) continue;  // ordinary attention, already computed
      const int64_t j0 = q_first ? q_first[t] : 0;
      const int64_t n = std::min<int64_t>(n_kv, q_rows[t] + 1) - j0;
      // the context group's keys are scores[a..b), the others scores[0..a) and [b..n)
      const int64_t a = std::clamp<int64_t>(span[2 * t] - j0, 0, n), b = std::clamp<int64_t>(span[2 * t + 1] - j0, a, n);
      const float* qh = reinterpret_cast<const float*>(static_cast<const uint8_t*>(q->data) + t * q->nb[1]) + h * hd;
      const float* mrow = mask ? reinterpret_cast<const float*>(static_cast<const uint8_t*>(mask->data) + t * mask->nb[1]) + j0 : nullptr;
      const size_t head_off = static_cast<size_t>(h / group * hd) * elem;
      for (int64_t i = 0; i < n; ++i) {
        const auto* krow = static_cast<const uint8_t*>(k->data) + (j0 + i) * k->nb[1] + head_off;
        scores[static_cast<size_t>(i)] = scale * dot_f32_row(qh, krow, f16, hd) + (mrow ? mrow[i] : 0.0f);
      }
      group_probabilities(scores.data(), n, a, b, temp_scale[2 * t], temp_scale[2 * t + 1]);
      float* out = reinterpret_cast<float*>(static_cast<uint8_t*>(node->data) + t * node->nb[1]) + h * hd;
      std::fill(out, out + hd, 0.0f);
      for (int64_t i = 0; i < n; ++i) {
        const float p = scores[static_cast<size_t>(i)];
        if (p != 0.0f) axpy_f32_row(out, p, static_cast<const uint8_t*>(v->data) + (j0 + i) * v->nb[1] + head_off, f16, hd);
      }
    }
  });
}

}  // namespace kvlink
