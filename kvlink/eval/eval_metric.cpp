#include "kvlink/eval/eval_metric.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

namespace kvlink {

namespace {
bool is_punctuation(char c) { return c != '\0' && std::strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", c) != nullptr; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
}  // namespace

std::string normalize_answer(std::string_view text) {
  // SQuAD's order: lower, remove punctuation, remove articles, fix white space.
  std::string cleaned;
  cleaned.reserve(text.size());
  for (char c : text) {
    if (is_punctuation(c)) continue;
    cleaned += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  std::string out;
  size_t i = 0;
  while (i < cleaned.size()) {
    while (i < cleaned.size() && is_space(cleaned[i])) ++i;
    size_t j = i;
    while (j < cleaned.size() && !is_space(cleaned[j])) ++j;
    const std::string_view word(cleaned.data() + i, j - i);
    if (!word.empty() && word != "a" && word != "an" && word != "the") {
      if (!out.empty()) out += ' ';
      out += word;
    }
    i = j;
  }
  return out;
}

int best_subspan_em(std::string_view prediction, const std::vector<std::string>& answers) {
  const std::string pred = normalize_answer(prediction);
  for (const std::string& a : answers) {
    const std::string gold = normalize_answer(a);
    if (!gold.empty() && pred.find(gold) != std::string::npos) return 1;
  }
  return 0;
}

void wilson_interval(long k, long n, double* low, double* high) {
  if (n <= 0) {
    *low = *high = 0;
    return;
  }
  const double z = 1.959963984540054;  // two-sided 95 %
  const double p = static_cast<double>(k) / static_cast<double>(n);
  const double nn = static_cast<double>(n);
  const double denom = 1 + z * z / nn;
  const double centre = (p + z * z / (2 * nn)) / denom;
  const double half = z * std::sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / denom;
  *low = std::max(0.0, centre - half);
  *high = std::min(1.0, centre + half);
}

double mean_over_positions(const std::vector<const PositionScores*>& examples, int n_positions) {
  std::vector<long> correct(static_cast<size_t>(n_positions), 0), n(static_cast<size_t>(n_positions), 0);
  for (const PositionScores* e : examples) {
    for (const auto& [pos, score] : *e) {
      correct[static_cast<size_t>(pos)] += score;
      ++n[static_cast<size_t>(pos)];
    }
  }
  double sum = 0;
  int seen = 0;
  for (size_t p = 0; p < n.size(); ++p) {
    if (n[p] == 0) continue;
    sum += static_cast<double>(correct[p]) / static_cast<double>(n[p]);
    ++seen;
  }
  return seen ? sum / seen : 0;
}

void positions_mean_interval(const std::vector<PositionScores>& examples, int n_positions, double* low, double* high) {
  *low = *high = 0;
  if (examples.empty()) return;
  constexpr int kResamples = 2000;
  std::mt19937_64 rng(20261128);
  std::uniform_int_distribution<size_t> pick(0, examples.size() - 1);
  std::vector<double> means(kResamples);
  std::vector<const PositionScores*> sample(examples.size());
  for (double& m : means) {
    for (const PositionScores*& e : sample) e = &examples[pick(rng)];
    m = mean_over_positions(sample, n_positions);
  }
  std::sort(means.begin(), means.end());
  *low = means[static_cast<size_t>(0.025 * (kResamples - 1))];
  *high = means[static_cast<size_t>(0.975 * (kResamples - 1))];
}

}  // namespace kvlink
