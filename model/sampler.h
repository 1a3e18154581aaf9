// Next-token selection: greedy (temperature <= 0) or seeded sampling with temperature, top-k and
// top-p (nucleus), applied in llama.cpp's order: top-k, top-p, then temperature.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "model/tokenizer.h"

namespace kvlink {

struct SamplerParams {
  float temperature = 0.0f;  // <= 0: greedy
  int32_t top_k = 40;        // <= 0: whole vocabulary
  float top_p = 0.95f;       // >= 1: off
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& params);
  // Never returns a banned id (e.g. link tokens that must not be generated).
  void ban(TokenId id) { banned_.push_back(id); }
  TokenId sample(const float* logits, int32_t n_vocab);

 private:
  SamplerParams params_;
  std::mt19937_64 rng_;
  std::vector<TokenId> banned_;
};

}  // namespace kvlink
