// BM25 tests: the analyzer on hand cases, scores against a direct evaluation of the Okapi formula
// (kvlink/retrieval/bm25.h) written out here, ranking properties the formula implies, result ordering and
// truncation, and retrieval on a 10,000-document generated corpus whose answers are known by design.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "kvlink/retrieval/bm25.h"
#include "tensor/error.h"

namespace kvlink {
namespace {

using Terms = std::vector<std::string>;
using Ranking = std::vector<std::pair<size_t, double>>;

// Exactness bound for score comparisons: scores are sums of a few terms of size ~1, computed in a
// different order here than in the index, so they agree to a few ulps; 1e-12 leaves ample margin.
constexpr double kScoreTol = 1e-12;

std::vector<size_t> indices(const Ranking& r) {
  std::vector<size_t> out;
  for (const auto& [doc, score] : r) out.push_back(doc);
  return out;
}

// The formula of bm25.h evaluated directly: one pass over the analysed corpus per query term
// occurrence, no inverted index.
double reference_score(const std::vector<Terms>& corpus, size_t d, const Terms& query, Bm25Params p) {
  double total_len = 0;
  for (const Terms& doc : corpus) total_len += static_cast<double>(doc.size());
  const double n = static_cast<double>(corpus.size());
  const double avgdl = total_len / n;
  double score = 0;
  for (const std::string& t : query) {
    double df = 0;
    for (const Terms& doc : corpus) df += std::count(doc.begin(), doc.end(), t) > 0 ? 1 : 0;
    const double tf = static_cast<double>(std::count(corpus[d].begin(), corpus[d].end(), t));
    if (tf == 0) continue;
    const double idf = std::log(1 + (n - df + 0.5) / (df + 0.5));
    const double len = static_cast<double>(corpus[d].size());
    score += idf * tf * (p.k1 + 1) / (tf + p.k1 * (1 - p.b + p.b * len / avgdl));
  }
  return score;
}

TEST(Bm25Terms, LowerCasesAsciiAndSplitsOnPunctuation) {
  EXPECT_EQ(bm25_terms("Hello, WORLD! foo-bar_baz\tqux\nQuUx"),
            (Terms{"hello", "world", "foo", "bar", "baz", "qux", "quux"}));
}

TEST(Bm25Terms, KeepsDigitsInsideAndAsTerms) {
  EXPECT_EQ(bm25_terms("GPT-4o runs on x86_64 at 3.14 GHz, 2024"),
            (Terms{"gpt", "4o", "runs", "x86", "64", "3", "14", "ghz", "2024"}));
}

TEST(Bm25Terms, DropsStopWordsAfterLowerCasingOnly) {
  EXPECT_EQ(bm25_terms("The cat IS on the mat, and THAT is it"), (Terms{"cat", "mat"}));
  // Only whole terms are stop words: "theory", "ant", "a1", "isn" stay.
  EXPECT_EQ(bm25_terms("theory ant a1 isn't"), (Terms{"theory", "ant", "a1", "isn", "t"}));
  EXPECT_EQ(bm25_terms("the a an of and or to in is are was were for on with as by at from that this it be"), Terms{});
}

TEST(Bm25Terms, KeepsUtf8BytesInsideTermsWithoutFolding) {
  // "Café" = "Caf\xC3\xA9": the ASCII part is lower-cased, the multi-byte character kept as is.
  EXPECT_EQ(bm25_terms("Café NAÏVE Größe"), (Terms{"café", "naÏve", "größe"}));
  // Bytes >= 0x80 are term bytes, so non-ASCII punctuation (U+3001 "、") does not split.
  EXPECT_EQ(bm25_terms("日本語、テスト (東京)"), (Terms{"日本語、テスト", "東京"}));
}

TEST(Bm25Terms, EmptyAndSeparatorOnlyTextGiveNoTerms) {
  EXPECT_TRUE(bm25_terms("").empty());
  EXPECT_TRUE(bm25_terms("  ...,;!? \n\t-- ").empty());
}

class Bm25Formula : public ::testing::Test {
 protected:
  // Different lengths, a term in every document ("kv"), terms in some, a repeated term, stop words.
  const std::vector<std::string> texts_ = {
      "The KV cache stores keys and values for every layer of the model.",
      "Rotary position embeddings rotate keys; shifting a cache means rotating keys again. KV KV.",
      "Link tokens restore cross-document attention in KVLink, cache reuse with kv link tokens.",
      "BM25 ranks chunks: kv",
  };

  Bm25Index build(Bm25Params p) const {
    Bm25Index index(p);
    for (size_t i = 0; i < texts_.size(); ++i) index.add("doc" + std::to_string(i), texts_[i]);
    return index;
  }

  void expect_scores_match(const Bm25Index& index, const std::string& query, Bm25Params p) const {
    std::vector<Terms> corpus;
    for (const std::string& t : texts_) corpus.push_back(bm25_terms(t));
    const Ranking got = index.search(query, 100);
    std::map<size_t, double> got_by_doc;
    for (const auto& [doc, score] : got) got_by_doc[doc] = score;
    for (size_t d = 0; d < corpus.size(); ++d) {
      const double want = reference_score(corpus, d, bm25_terms(query), p);
      SCOPED_TRACE("query '" + query + "', document " + std::to_string(d));
      if (want == 0) {
        EXPECT_EQ(got_by_doc.count(d), 0u);
      } else {
        ASSERT_EQ(got_by_doc.count(d), 1u);
        EXPECT_NEAR(got_by_doc[d], want, kScoreTol);
      }
    }
  }
};

TEST_F(Bm25Formula, ScoresEqualDirectEvaluationWithDefaults) {
  const Bm25Index index = build({});
  for (const std::string q : {"kv", "cache keys", "link tokens kvlink", "rotary position bm25 model", "absent words"}) {
    expect_scores_match(index, q, {});
  }
}

TEST_F(Bm25Formula, ScoresEqualDirectEvaluationWithOtherParams) {
  for (const Bm25Params p : {Bm25Params{2.0, 0.3}, Bm25Params{0.5, 1.0}, Bm25Params{1.2, 0.0}}) {
    const Bm25Index index = build(p);
    for (const std::string q : {"kv cache", "keys rotating layer", "link tokens"}) expect_scores_match(index, q, p);
  }
}

TEST_F(Bm25Formula, RepeatedQueryTermCountsOncePerOccurrence) {
  const Bm25Index index = build({});
  expect_scores_match(index, "keys keys cache", {});
  const Ranking once = index.search("keys", 10);
  const Ranking twice = index.search("keys KEYS", 10);
  ASSERT_EQ(indices(once), indices(twice));
  for (size_t i = 0; i < once.size(); ++i) EXPECT_NEAR(twice[i].second, 2 * once[i].second, kScoreTol);
}

TEST_F(Bm25Formula, TermInEveryDocumentStillScoresPositive) {
  // The "1 +" inside the log keeps idf > 0 even when df = N (the classic RSJ idf would be negative).
  const Ranking r = build({}).search("kv", 10);
  EXPECT_EQ(r.size(), 4u);
  for (const auto& [doc, score] : r) EXPECT_GT(score, 0.0);
}

TEST(Bm25Ranking, RareQueryTermBeatsCommonOne) {
  Bm25Index index;
  index.add("common", "shared words alpha");
  index.add("rare", "shared words zeta");
  for (int i = 0; i < 8; ++i) index.add("filler" + std::to_string(i), "shared words alpha filler");
  const Ranking r = index.search("alpha zeta", 10);
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(index.id(r[0].first), "rare");
}

TEST(Bm25Ranking, LongerDocumentIsPenalisedAndBZeroRemovesIt) {
  const std::string short_doc = "retrieval target";
  const std::string long_doc = "retrieval target plus many other unrelated padding words here";
  Bm25Index normalised;
  normalised.add("short", short_doc);
  normalised.add("long", long_doc);
  const Ranking r = normalised.search("retrieval", 10);
  ASSERT_EQ(indices(r), (std::vector<size_t>{0, 1}));
  EXPECT_GT(r[0].second, r[1].second);

  Bm25Index flat(Bm25Params{1.2, 0.0});
  flat.add("short", short_doc);
  flat.add("long", long_doc);
  const Ranking f = flat.search("retrieval", 10);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].second, f[1].second);  // identical inputs to the formula: bit-equal
  EXPECT_EQ(indices(f), (std::vector<size_t>{0, 1}));
}

TEST(Bm25Search, TruncatesToTopKAndBreaksTiesByLowerIndex) {
  Bm25Index index;
  index.add("a", "apple banana");
  index.add("b", "cherry");        // no query term: omitted
  index.add("c", "apple banana");  // ties with a
  index.add("d", "apple banana apple banana");
  index.add("e", "apple banana");  // ties with a and c
  const Ranking all = index.search("apple", 100);
  EXPECT_EQ(indices(all), (std::vector<size_t>{3, 0, 2, 4}));
  EXPECT_EQ(all[1].second, all[2].second);
  EXPECT_EQ(indices(index.search("apple", 2)), (std::vector<size_t>{3, 0}));
  EXPECT_EQ(indices(index.search("apple", 3)), (std::vector<size_t>{3, 0, 2}));
  EXPECT_TRUE(index.search("apple", 0).empty());
  EXPECT_EQ(index.size(), 5u);
  EXPECT_EQ(index.id(3), "d");
  EXPECT_THROW(index.id(5), Error);
}

TEST(Bm25Search, EmptyQueryAndEmptyIndexReturnNothing) {
  Bm25Index empty;
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_TRUE(empty.search("anything at all", 10).empty());

  Bm25Index index;
  index.add("x", "some text");
  index.add("y", "");  // a document without terms is counted but never returned
  EXPECT_TRUE(index.search("", 10).empty());
  EXPECT_TRUE(index.search("  ,.; ", 10).empty());
  EXPECT_TRUE(index.search("the of and", 10).empty());  // stop words only
  EXPECT_TRUE(index.search("missing", 10).empty());
  EXPECT_EQ(indices(index.search("TEXT", 10)), (std::vector<size_t>{0}));
}

TEST(Bm25Search, FindsKnownAnswersInTenThousandGeneratedDocuments) {
  // Document i = "common words group<i % 100> uid<i>": every document has the same length, so
  // within a group all scores tie, and a document matching two query terms beats one matching one.
  constexpr size_t kDocs = 10000, kGroups = 100;
  Bm25Index index;
  for (size_t i = 0; i < kDocs; ++i) {
    index.add("doc" + std::to_string(i),
              "common words group" + std::to_string(i % kGroups) + " uid" + std::to_string(i));
  }
  ASSERT_EQ(index.size(), kDocs);

  const Ranking one = index.search("uid1234", 10);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(index.id(one[0].first), "doc1234");

  // uid4242 is in group 42: it ranks first, then the other 99 members of group 42 in index order.
  const Ranking group = index.search("group42 uid4242", kDocs);
  ASSERT_EQ(group.size(), kDocs / kGroups);
  EXPECT_EQ(group[0].first, 4242u);
  std::vector<size_t> rest;
  for (size_t i = 42; i < kDocs; i += kGroups) {
    if (i != 4242) rest.push_back(i);
  }
  const std::vector<size_t> order = indices(group);
  EXPECT_EQ(std::vector<size_t>(order.begin() + 1, order.end()), rest);

  // Two uids from different groups: both match one rare term with equal score, lower index first.
  EXPECT_EQ(indices(index.search("uid9999 uid17", 10)), (std::vector<size_t>{17, 9999}));

  // A term in every document: all tie, so the top 5 are the first 5 added.
  EXPECT_EQ(indices(index.search("common", 5)), (std::vector<size_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(index.search("words", kDocs).size(), kDocs);
}

}  // namespace
}  // namespace kvlink
