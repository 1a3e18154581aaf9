// The QA metric of the KVLink paper and its baselines (docs/DATA.md): best-subspan exact
// match. Prediction and gold answers are normalised as SQuAD's evaluation script does (lower-case,
// punctuation removed, the articles a/an/the removed, white space collapsed); a prediction scores 1
// when any normalised gold answer is a substring of the normalised prediction.
#pragma once
#include <string>
#include <string_view>
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

}  // namespace kvlink
