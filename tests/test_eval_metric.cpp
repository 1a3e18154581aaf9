// The QA metric (best-subspan EM, docs/DATA.md) on hand-written cases: normalisation,
// punctuation, articles, aliases, empty predictions; and the Wilson interval.
#include <gtest/gtest.h>

#include "kvlink/eval/eval_metric.h"

using kvlink::best_subspan_em;
using kvlink::normalize_answer;

TEST(EvalMetric, NormalisationLowercasesStripsPunctuationArticlesAndSpace) {
  EXPECT_EQ(normalize_answer("  The Quick,  brown FOX!  "), "quick brown fox");
  EXPECT_EQ(normalize_answer("A tale of an apple"), "tale of apple");
  EXPECT_EQ(normalize_answer("theory and anthem"), "theory and anthem");  // articles only as whole words
  EXPECT_EQ(normalize_answer("U.S.A."), "usa");
  EXPECT_EQ(normalize_answer("rock'n'roll"), "rocknroll");
  EXPECT_EQ(normalize_answer("line\nbreak\ttab"), "line break tab");
  EXPECT_EQ(normalize_answer("Zürich"), "zürich");  // non-ASCII bytes pass through
  EXPECT_EQ(normalize_answer(""), "");
  EXPECT_EQ(normalize_answer("The"), "");
}

TEST(EvalMetric, GoldAnswerAsSubspanOfThePrediction) {
  EXPECT_EQ(best_subspan_em("The Canadian rock band Rush released it.", {"Rush"}), 1);
  EXPECT_EQ(best_subspan_em("It was rushed.", {"Rush"}), 1);  // substring, as the metric defines it
  EXPECT_EQ(best_subspan_em("Paris, France", {"paris"}), 1);
  EXPECT_EQ(best_subspan_em("the United States of America", {"United States"}), 1);
  EXPECT_EQ(best_subspan_em("In 1852.", {"1853"}), 0);
  EXPECT_EQ(best_subspan_em("Agnes   Lund", {"agnes lund"}), 1);     // white space collapsed
  EXPECT_EQ(best_subspan_em("St Louis", {"St. Louis"}), 1);         // punctuation in the gold answer
  EXPECT_EQ(best_subspan_em("an answer", {"The answer"}), 1);       // articles on both sides
}

TEST(EvalMetric, AnyAliasCounts) {
  const std::vector<std::string> aliases = {"New York City", "NYC", "the Big Apple"};
  EXPECT_EQ(best_subspan_em("They moved to NYC in 1990.", aliases), 1);
  EXPECT_EQ(best_subspan_em("a big apple", aliases), 1);
  EXPECT_EQ(best_subspan_em("Boston", aliases), 0);
}

TEST(EvalMetric, EmptyPredictionAndEmptyGoldNeverMatch) {
  EXPECT_EQ(best_subspan_em("", {"Rush"}), 0);
  EXPECT_EQ(best_subspan_em("...", {"Rush"}), 0);
  EXPECT_EQ(best_subspan_em("anything at all", {"The", ""}), 0);  // golds that normalise to "" are ignored
  EXPECT_EQ(best_subspan_em("anything", {}), 0);
}

TEST(EvalMetric, WilsonInterval) {
  double lo = 0, hi = 0;
  kvlink::wilson_interval(1, 3, &lo, &hi);  // reference values: 0.0615, 0.7923
  EXPECT_NEAR(lo, 0.0615, 1e-4);
  EXPECT_NEAR(hi, 0.7923, 1e-4);
  kvlink::wilson_interval(0, 10, &lo, &hi);
  EXPECT_EQ(lo, 0.0);
  EXPECT_NEAR(hi, 0.2775, 1e-4);
  kvlink::wilson_interval(0, 0, &lo, &hi);
  EXPECT_EQ(hi, 0.0);
}

TEST(EvalMetric, MeanOverPositionsAveragesEachPositionsAccuracy) {
  using kvlink::PositionScores;
  const PositionScores a = {{0, 1}, {1, 0}, {2, 1}}, b = {{0, 1}, {1, 0}}, c = {{0, 0}, {2, 1}};
  // position 0: 2 of 3, position 1: 0 of 2, position 2: 2 of 2 (unbalanced: the positions' mean, not the pooled 4/7)
  EXPECT_NEAR(kvlink::mean_over_positions({&a, &b, &c}, 3), (2.0 / 3 + 0 + 1) / 3, 1e-12);
  EXPECT_EQ(kvlink::mean_over_positions({}, 3), 0.0);
}

TEST(EvalMetric, PositionsMeanIntervalResamplesExamplesNotPairs) {
  // 10 examples answered alike at 3 positions: 5 always right, 5 always wrong. The pairs look like
  // 15 of 30, but there are only 10 independent examples: the interval must be the wider one.
  std::vector<kvlink::PositionScores> ex;
  for (int e = 0; e < 10; ++e) ex.push_back({{0, e < 5}, {1, e < 5}, {2, e < 5}});
  double lo = 0, hi = 0, wlo = 0, whi = 0;
  kvlink::positions_mean_interval(ex, 3, &lo, &hi);
  kvlink::wilson_interval(15, 30, &wlo, &whi);
  EXPECT_LT(lo, 0.5);
  EXPECT_GT(hi, 0.5);
  EXPECT_LT(lo, wlo - 0.05);  // a binomial over 10 draws: about [0.2, 0.8]; the pooled one: [0.33, 0.67]
  EXPECT_GT(hi, whi + 0.05);
  EXPECT_GE(lo, 0.0);
  EXPECT_LE(hi, 1.0);
  double lo2 = 0, hi2 = 0;
  kvlink::positions_mean_interval(ex, 3, &lo2, &hi2);  // fixed seed: the same interval again
  EXPECT_EQ(lo, lo2);
  EXPECT_EQ(hi, hi2);
  kvlink::positions_mean_interval({}, 3, &lo, &hi);
  EXPECT_EQ(lo, 0.0);
  EXPECT_EQ(hi, 0.0);
}
