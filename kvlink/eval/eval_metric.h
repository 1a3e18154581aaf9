// The QA metric of the KVLink paper and its baselines (docs/DATA.md): best-subspan exact
// match. Prediction and gold answers are normalised as SQuAD's evaluation script does (lower-case,
// punctuation removed, the articles a/an/the removed, white space collapsed); a prediction scores 1
// when any normalised gold answer is a substring of the normalised prediction.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kvlink {

// Lower-cases ASCII letters (other bytes are kept: UTF-8 text passes through unchanged), removes ASCII
// punctuation (Python's string.punctuation), removes the words "a", "an" and "the", and joins the
// remaining words with single spaces.
std::string normalize_answer(std::string_view text);

// 1 when some gold answer, normalised and non-empty, occurs in the normalised prediction; else 0.
// Gold answers that normalise to "" (e.g. "The") are ignored, since they would match anything.
int best_subspan_em(std::string_view prediction, const std::vector<std::string>& answers);

// 95 % Wilson score interval of a proportion k/n (Wilson 1927): [low, high]; [0, 0] when n = 0.
void wilson_interval(long k, long n, double* low, double* high);

// One example's scores at its gold positions: (position index 0..n_positions-1, score 0 or 1).
using PositionScores = std::vector<std::pair<int, int>>;

// The mean over positions of each position's accuracy (the positions some example has).
double mean_over_positions(const std::vector<const PositionScores*>& examples, int n_positions);

// 95 % percentile bootstrap interval of mean_over_positions, resampling examples (an example is
// answered at every position, so its scores are not independent draws: the pooled pairs' Wilson
// interval would be too narrow). 2,000 resamples with a fixed seed: the same scores give the same
// interval. [0, 0] without examples.
void positions_mean_interval(const std::vector<PositionScores>& examples, int n_positions, double* low, double* high);

}  // namespace kvlink
