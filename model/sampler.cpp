#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace kvlink {

Sampler::Sampler(const SamplerParams& params) : params_(params), rng_(params.seed) {}

TokenId Sampler::sample(const float* logits, int32_t n_vocab) {
  std::vector<float> l(logits, logits + n_vocab);
  for (TokenId b : banned_) {
    if (b >= 0 && b < n_vocab) l[static_cast<size_t>(b)] = -std::numeric_limits<float>::infinity();
  }
  if (params_.temperature <= 0.0f) {
    return static_cast<TokenId>(std::max_element(l.begin(), l.end()) - l.begin());  // first maximum on ties
  }
  std::vector<TokenId> ids(static_cast<size_t>(n_vocab));
  std::iota(ids.begin(), ids.end(), 0);
  const auto by_logit = [&](TokenId a, TokenId b) {
    return l[static_cast<size_t>(a)] > l[static_cast<size_t>(b)] || (l[static_cast<size_t>(a)] == l[static_cast<size_t>(b)] && a < b);
  };
  size_t keep = ids.size();
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < keep) keep = static_cast<size_t>(params_.top_k);
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(keep), ids.end(), by_logit);
  ids.resize(keep);
  // Softmax over the kept candidates at temperature 1 for top-p, as llama.cpp does before temperature.
  const float max = l[static_cast<size_t>(ids[0])];
  std::vector<double> p(keep);
  double sum = 0.0;
  for (size_t i = 0; i < keep; ++i) sum += (p[i] = std::exp(static_cast<double>(l[static_cast<size_t>(ids[i])] - max)));
  if (params_.top_p < 1.0f) {
    double cum = 0.0;
    size_t n = 0;
    while (n < keep) {
      cum += p[n] / sum;
      ++n;
      if (cum >= params_.top_p) break;
    }
    ids.resize(n);
    keep = n;
  }
  std::vector<double> w(keep);
  for (size_t i = 0; i < keep; ++i) {
    w[i] = std::exp(static_cast<double>(l[static_cast<size_t>(ids[i])] - max) / params_.temperature);
  }
  std::discrete_distribution<size_t> dist(w.begin(), w.end());
  return ids[dist(rng_)];
}

}  // namespace kvlink
