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
