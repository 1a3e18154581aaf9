// Next-token selection (model/sampler.h): greedy, bans, top-k/top-p edge cases, seeding, and the
// empirical distribution of plain temperature-1 sampling against softmax.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/sampler.h"

namespace kvlink {
namespace {

SamplerParams greedy() {
  SamplerParams p;
  p.temperature = 0.0f;
  return p;
}

SamplerParams sampling(uint64_t seed, int32_t top_k = 0, float top_p = 1.0f, float temperature = 1.0f) {
  SamplerParams p;
  p.temperature = temperature;
  p.top_k = top_k;
  p.top_p = top_p;
  p.seed = seed;
  return p;
}

const std::vector<float> kLogits = {0.1f, 2.5f, -1.0f, 2.4f, 0.0f, 1.7f, -3.0f, 2.49f};  // argmax 1

TEST(Sampler, GreedyReturnsArgmax) {
  Sampler s(greedy());
  EXPECT_EQ(s.sample(kLogits.data(), static_cast<int32_t>(kLogits.size())), 1);
}

TEST(Sampler, GreedyTieGoesToLowestId) {
  const std::vector<float> l = {0.0f, 3.0f, 1.0f, 3.0f, 3.0f};
  Sampler s(greedy());
  EXPECT_EQ(s.sample(l.data(), 5), 1);
}

TEST(Sampler, BannedIdsAreNeverReturned) {
  Sampler g(greedy());
  g.ban(1);
  g.ban(7);
  EXPECT_EQ(g.sample(kLogits.data(), 8), 3);
  // A banned id that dominates the distribution is still never drawn.
  const std::vector<float> l = {0.0f, 20.0f, 0.0f, 0.0f};
  Sampler s(sampling(3));
  s.ban(1);
  for (int i = 0; i < 2000; ++i) EXPECT_NE(s.sample(l.data(), 4), 1);
}

TEST(Sampler, TopKOneIsGreedy) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Sampler s(sampling(seed, 1, 1.0f, 1.5f));
    EXPECT_EQ(s.sample(kLogits.data(), 8), 1);
  }
}

TEST(Sampler, TinyTopPIsArgmax) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Sampler s(sampling(seed, 0, 1e-6f, 1.0f));
    EXPECT_EQ(s.sample(kLogits.data(), 8), 1);
  }
}

std::vector<int32_t> draws(uint64_t seed, int n) {
  Sampler s(sampling(seed, 0, 1.0f, 1.0f));
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) out.push_back(s.sample(kLogits.data(), 8));
  return out;
}

TEST(Sampler, SeededSamplingIsReproducibleAndSeedsDiffer) {
  EXPECT_EQ(draws(42, 200), draws(42, 200));
  // With 4 candidates of probability >= 0.1 each, 200 identical draws under two seeds would be a
  // coincidence of probability far below 1e-50.
  EXPECT_NE(draws(42, 200), draws(43, 200));
}

// Temperature 1 with top-k and top-p off draws token i with probability softmax(l)_i. With N draws
// the count of token i is Binomial(N, p_i): its standard deviation is sqrt(N p (1-p)) <= sqrt(N)/2,
// i.e. <= 0.0025 in frequency for N = 40000. The bound 0.0125 is 5 standard deviations (a false
// failure has probability ~6e-7 per token); a sampler that, e.g., forgot to exponentiate or applied
// the temperature twice is off by more than 0.05.
TEST(Sampler, EmpiricalDistributionMatchesSoftmax) {
  const std::vector<float> l = {1.0f, 0.0f, 2.0f, -0.5f};
  double sum = 0.0;
  std::vector<double> p(4);
  for (size_t i = 0; i < 4; ++i) sum += (p[i] = std::exp(static_cast<double>(l[i])));
  for (double& x : p) x /= sum;
  const int n = 40000;
  std::vector<int> count(4, 0);
  Sampler s(sampling(7, 0, 1.0f, 1.0f));
  for (int i = 0; i < n; ++i) ++count[static_cast<size_t>(s.sample(l.data(), 4))];
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(static_cast<double>(count[i]) / n, p[i], 0.0125) << "token " << i;
  }
}

}  // namespace
}  // namespace kvlink
