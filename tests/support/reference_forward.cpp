#include "support/reference_forward.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "model/gguf.h"
#include "tensor/error.h"
#include "tensor/quant.h"

namespace kvlink::testing {

namespace {

using Vec = std::vector<double>;

// ---- loading -------------------------------------------------------------------------------------

std::vector<float> read_tensor(const GGUFFile& f, const std::string& name, int64_t expected, bool required) {
  const GGUFTensorInfo* t = f.find_tensor(name);
  if (!t) {
    if (required) throw Error("reference: missing tensor '" + name + "'");
    return {};
  }
  if (t->n_elements() != expected) throw Error("reference: tensor '" + name + "' has the wrong size");
  std::vector<float> out(static_cast<size_t>(expected));
  ref::dequantize_row(t->type, t->data, out.data(), expected);
  return out;
}

// Fills the weight vectors through `get(name, n_elements, required)`.
template <typename Get>
void fill_weights(ReferenceModel& m, Get get) {
  const int64_t E = m.n_embd, Q = int64_t{m.n_head} * m.head_dim, KV = int64_t{m.n_head_kv} * m.head_dim;
  const bool bias = m.arch == "qwen2";
  m.token_embd = get("token_embd.weight", E * m.n_vocab, true);
  m.output_norm = get("output_norm.weight", E, true);
  m.output = get("output.weight", E * m.n_vocab, false);
  if (m.output.empty()) m.output = m.token_embd;
  m.rope_freqs = get("rope_freqs.weight", m.n_rot / 2, false);
  m.layers.resize(static_cast<size_t>(m.n_layer));
  for (int l = 0; l < m.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    ReferenceLayer& L = m.layers[static_cast<size_t>(l)];
    L.attn_norm = get(p + "attn_norm.weight", E, true);
    L.wq = get(p + "attn_q.weight", E * Q, true);
    L.wk = get(p + "attn_k.weight", E * KV, true);
    L.wv = get(p + "attn_v.weight", E * KV, true);
    L.bq = get(p + "attn_q.bias", Q, bias);
    L.bk = get(p + "attn_k.bias", KV, bias);
    L.bv = get(p + "attn_v.bias", KV, bias);
    L.wo = get(p + "attn_output.weight", Q * E, true);
    L.ffn_norm = get(p + "ffn_norm.weight", E, true);
    L.ffn_gate = get(p + "ffn_gate.weight", E * m.n_ff, true);
    L.ffn_up = get(p + "ffn_up.weight", E * m.n_ff, true);
    L.ffn_down = get(p + "ffn_down.weight", int64_t{m.n_ff} * E, true);
  }
}

// ---- the forward pass ----------------------------------------------------------------------------

// y = W x (+ b): W has n_out rows of x.size() values.
Vec linear(const std::vector<float>& w, const std::vector<float>& b, const Vec& x, int n_out) {
  const size_t k = x.size();
  Vec y(static_cast<size_t>(n_out));
  for (size_t r = 0; r < y.size(); ++r) {
    double s = b.empty() ? 0.0 : b[r];
    for (size_t c = 0; c < k; ++c) s += static_cast<double>(w[r * k + c]) * x[c];
    y[r] = s;
  }
  return y;
}

Vec rms_norm(const Vec& x, const std::vector<float>& w, double eps) {
  double ss = 0.0;
  for (double v : x) ss += v * v;
  const double inv = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * w[i];
  return y;
}

// Rotates the first n_rot dimensions of each head in place. Pair i is (2i, 2i+1) for llama GGUFs
// and (i, i + n_rot/2) for qwen2; angle = pos * scale * base^(-2i/n_rot) / factor_i (RoFormer eq. 15,
// with Llama-3's per-pair frequency divisors).
void rope(const ReferenceModel& m, Vec& x, int n_heads, int32_t pos) {
  const bool neox = m.arch == "qwen2";
  const int half = m.n_rot / 2;
  for (int h = 0; h < n_heads; ++h) {
    double* head = x.data() + static_cast<size_t>(h) * static_cast<size_t>(m.head_dim);
    for (int i = 0; i < half; ++i) {
      double inv_freq = std::pow(m.rope_freq_base, -2.0 * i / m.n_rot);
      if (!m.rope_freqs.empty()) inv_freq /= m.rope_freqs[static_cast<size_t>(i)];
      const double theta = pos * m.rope_freq_scale * inv_freq;
      const double c = std::cos(theta), s = std::sin(theta);
      const int a = neox ? i : 2 * i;
      const int b = neox ? i + half : 2 * i + 1;
      const double x0 = head[a], x1 = head[b];
      head[a] = x0 * c - x1 * s;
      head[b] = x0 * s + x1 * c;
    }
  }
}

// log(sum_j exp(x_j)) over the entries of `x` whose flag in `in` is set; -inf for none.
double log_sum_exp(const Vec& x, const std::vector<uint8_t>& in) {
  double max = -std::numeric_limits<double>::infinity();
  for (size_t j = 0; j < x.size(); ++j) {
    if (in[j]) max = std::max(max, x[j]);
  }
  if (max == -std::numeric_limits<double>::infinity()) return max;
  double sum = 0.0;
  for (size_t j = 0; j < x.size(); ++j) {
    if (in[j]) sum += std::exp(x[j] - max);
  }
  return max + std::log(sum);
}

// Grouped-query attention of every token over the tokens it may see; with `groups`, the visible keys
// of a query split into its context group (scores / T, log-sum-exp times S) and the rest, and the
// weight of key j is exp(G_g - log Z) exp(s_j - L_g), G_C = S L_C, G_N = L_N, Z = e^{G_C} + e^{G_N}.
// Keys as query i sees them: k[j], or with key_positions the unrotated key k_raw[j] rotated to
// key_positions[i * n + j].
struct Keys {
  const ReferenceModel& m;
  const std::vector<Vec>& k;
  const std::vector<Vec>& k_raw;
  const std::vector<int32_t>* key_positions;
  const Vec& of(size_t i, size_t j, Vec& scratch) const {
    if (!key_positions) return k[j];
    scratch = k_raw[j];
    rope(m, scratch, m.n_head_kv, (*key_positions)[i * k.size() + j]);
    return scratch;
  }
};

std::vector<Vec> attention(const ReferenceModel& m, const std::vector<Vec>& q, const Keys& keys,
                           const std::vector<Vec>& v, const std::vector<uint8_t>& visible, const ReferenceGroups* groups) {
  const size_t n = q.size();
  const int group = m.n_head / m.n_head_kv;
  const double scale = 1.0 / std::sqrt(static_cast<double>(m.head_dim));
  const size_t hd = static_cast<size_t>(m.head_dim);
  const double ninf = -std::numeric_limits<double>::infinity();
  std::vector<Vec> out(n, Vec(static_cast<size_t>(m.n_head) * hd, 0.0));
  Vec scores(n), scratch;
  std::vector<uint8_t> in_c(n), in_n(n);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) {
      const bool c = groups && groups->context[i * n + j];
      in_c[j] = visible[i * n + j] && c;
      in_n[j] = visible[i * n + j] && !c;
    }
    for (int h = 0; h < m.n_head; ++h) {
      const size_t qo = static_cast<size_t>(h) * hd;
      const size_t ko = static_cast<size_t>(h / group) * hd;
      for (size_t j = 0; j < n; ++j) {
        if (!visible[i * n + j]) continue;
        const Vec& kj = keys.of(i, j, scratch);
        double s = 0.0;
        for (size_t d = 0; d < hd; ++d) s += q[i][qo + d] * kj[ko + d];
        scores[j] = s * scale / (in_c[j] ? groups->temperature : 1.0);
      }
      const double lc = log_sum_exp(scores, in_c), ln = log_sum_exp(scores, in_n);
      const double gc = lc == ninf ? ninf : (groups ? groups->lse_scale : 1.0) * lc;
      const double log_z = std::max(gc, ln) + std::log(std::exp(gc - std::max(gc, ln)) + std::exp(ln - std::max(gc, ln)));
      if (ln == ninf && lc == ninf) continue;  // sees nothing: zero output
      for (size_t j = 0; j < n; ++j) {
        if (!visible[i * n + j]) continue;
        const double p = in_c[j] ? std::exp(gc - log_z + scores[j] - lc) : std::exp(ln - log_z + scores[j] - ln);
        for (size_t d = 0; d < hd; ++d) out[i][qo + d] += p * v[j][ko + d];
      }
    }
  }
  return out;
}

}  // namespace

ReferenceModel reference_model_from_gguf(const std::string& path) {
  const GGUFFile f = GGUFFile::open(path);
  ReferenceModel m;
  m.arch = f.get_string("general.architecture");
  if (m.arch != "llama" && m.arch != "qwen2") throw Error("reference: unsupported architecture " + m.arch);
  const std::string a = m.arch + ".";
  m.n_layer = static_cast<int>(f.get_int(a + "block_count"));
  m.n_embd = static_cast<int>(f.get_int(a + "embedding_length"));
  m.n_ff = static_cast<int>(f.get_int(a + "feed_forward_length"));
  m.n_head = static_cast<int>(f.get_int(a + "attention.head_count"));
  m.n_head_kv = static_cast<int>(f.get_int_or(a + "attention.head_count_kv", m.n_head));
  m.head_dim = static_cast<int>(f.get_int_or(a + "attention.key_length", m.n_embd / m.n_head));
  m.n_rot = static_cast<int>(f.get_int_or(a + "rope.dimension_count", m.head_dim));
  m.rms_eps = f.get_float_or(a + "attention.layer_norm_rms_epsilon", 1e-5);
  m.rope_freq_base = f.get_float_or(a + "rope.freq_base", 10000.0);
  if (f.get_string_or(a + "rope.scaling.type", "none") == "linear") {
    m.rope_freq_scale = 1.0 / f.get_float_or(a + "rope.scaling.factor", 1.0);
  }
  m.n_vocab = static_cast<int>(f.get_string_array("tokenizer.ggml.tokens").size());
  fill_weights(m, [&](const std::string& name, int64_t n, bool required) { return read_tensor(f, name, n, required); });
  return m;
}

ReferenceModel reference_model_from_tiny(const TinyModelSpec& spec) {
  ReferenceModel m;
  m.arch = spec.arch;
  m.n_layer = spec.n_layer;
  m.n_embd = spec.n_embd;
  m.n_head = spec.n_head;
  m.n_head_kv = spec.n_head_kv;
  m.head_dim = spec.n_embd / spec.n_head;
  m.n_ff = spec.n_ff;
  m.n_vocab = kTinyVocab;
  m.n_rot = m.head_dim;
  m.rms_eps = spec.rms_eps;
  m.rope_freq_base = spec.rope_freq_base;
  const std::vector<TinyTensor> tensors = make_tiny_weights(spec);
  fill_weights(m, [&](const std::string& name, int64_t n, bool required) {
    for (const TinyTensor& t : tensors) {
      if (t.name != name) continue;
      if (static_cast<int64_t>(t.values.size()) != n) throw Error("reference: tensor '" + name + "' has the wrong size");
      return t.values;
    }
    if (required) throw Error("reference: missing tensor '" + name + "'");
    return std::vector<float>();
  });
  return m;
}

std::vector<uint8_t> causal_visibility(int n) {
  std::vector<uint8_t> v(static_cast<size_t>(n) * static_cast<size_t>(n), 0);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j <= i; ++j) v[static_cast<size_t>(i) * static_cast<size_t>(n) + static_cast<size_t>(j)] = 1;
  }
  return v;
}

std::vector<std::vector<double>> reference_forward(const ReferenceModel& m, const std::vector<int32_t>& tokens,
                                                   const std::vector<int32_t>& positions,
                                                   const std::vector<uint8_t>& visible_in, const ReferenceGroups* groups,
                                                   const std::vector<int32_t>* key_positions) {
  const size_t n = tokens.size();
  if (positions.size() != n) throw Error("reference: one position per token");
  const std::vector<uint8_t> visible = visible_in.empty() ? causal_visibility(static_cast<int>(n)) : visible_in;
  if (visible.size() != n * n) throw Error("reference: visibility must be n_tokens x n_tokens");
  if (groups && groups->context.size() != n * n) throw Error("reference: context groups must be n_tokens x n_tokens");
  if (key_positions && key_positions->size() != n * n) throw Error("reference: key positions must be n_tokens x n_tokens");
  const size_t E = static_cast<size_t>(m.n_embd);
  const int q_width = m.n_head * m.head_dim, kv_width = m.n_head_kv * m.head_dim;

  std::vector<Vec> x(n, Vec(E));
  for (size_t i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= m.n_vocab) throw Error("reference: token id out of range");
    for (size_t c = 0; c < E; ++c) x[i][c] = m.token_embd[static_cast<size_t>(tokens[i]) * E + c];
  }
  for (const ReferenceLayer& L : m.layers) {
    std::vector<Vec> q(n), k(n), k_raw(n), v(n);
    for (size_t i = 0; i < n; ++i) {
      const Vec h = rms_norm(x[i], L.attn_norm, m.rms_eps);
      q[i] = linear(L.wq, L.bq, h, q_width);
      k[i] = linear(L.wk, L.bk, h, kv_width);
      v[i] = linear(L.wv, L.bv, h, kv_width);
      k_raw[i] = k[i];
      rope(m, q[i], m.n_head, positions[i]);
      rope(m, k[i], m.n_head_kv, positions[i]);
    }
    const std::vector<Vec> attn = attention(m, q, Keys{m, k, k_raw, key_positions}, v, visible, groups);
    for (size_t i = 0; i < n; ++i) {
      const Vec o = linear(L.wo, {}, attn[i], m.n_embd);
      for (size_t c = 0; c < E; ++c) x[i][c] += o[c];
      const Vec h = rms_norm(x[i], L.ffn_norm, m.rms_eps);
      const Vec gate = linear(L.ffn_gate, {}, h, m.n_ff);
      Vec up = linear(L.ffn_up, {}, h, m.n_ff);
      for (size_t f = 0; f < up.size(); ++f) up[f] *= gate[f] / (1.0 + std::exp(-gate[f]));  // SwiGLU
      const Vec d = linear(L.ffn_down, {}, up, m.n_embd);
      for (size_t c = 0; c < E; ++c) x[i][c] += d[c];
    }
  }
  std::vector<Vec> logits(n);
  for (size_t i = 0; i < n; ++i) logits[i] = linear(m.output, {}, rms_norm(x[i], m.output_norm, m.rms_eps), m.n_vocab);
  return logits;
}

}  // namespace kvlink::testing
