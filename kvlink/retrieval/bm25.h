// BM25 retrieval over document chunks for kvlink-query --top-k: a small text analyzer and an
// in-memory inverted index scored with Okapi BM25 (Robertson & Sparck Jones; Robertson & Zaragoza,
// "The Probabilistic Relevance Framework: BM25 and Beyond", 2009, eq. 3.15 with the Lucene idf).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kvlink {

// Splits text into index terms: ASCII letters are lower-cased; a term is a maximal run of ASCII
// letters, ASCII digits and bytes >= 0x80 (so UTF-8 multi-byte characters, including non-ASCII
// punctuation, stay inside terms and are not case-folded); every other byte separates terms. Terms
// on a small English stop-word list are dropped. No stemming.
std::vector<std::string> bm25_terms(std::string_view text);

struct Bm25Params {
  double k1 = 1.2;  // term-frequency saturation
  double b = 0.75;  // strength of document-length normalisation (0: none, 1: full)
};

// Documents are numbered 0, 1, ... in the order they are added. Scoring, for a document d:
//   score(q, d) = sum over query term occurrences t of
//                 idf(t) * tf(t,d) * (k1 + 1) / (tf(t,d) + k1 * (1 - b + b * |d| / avgdl))
//   idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
// |d| and avgdl count terms after analysis (stop words removed). A term repeated in the query counts
// once per occurrence (the standard sum over the query's terms, i.e. weighted by query tf), so
// "rope rope scaling" weighs "rope" twice. This idf is always > 0, so every document that holds a
// query term has a positive score.
class Bm25Index {
 public:
  explicit Bm25Index(Bm25Params params = {}) : params_(params) {}

  void add(std::string id, std::string_view text);

  // The top_k best documents as (index, score), best first; equal scores in increasing index order.
  // Documents with score 0 (no query term) are omitted. Touches only the postings of query terms.
  std::vector<std::pair<size_t, double>> search(std::string_view query, size_t top_k) const;

  size_t size() const { return doc_len_.size(); }
  // Throws kvlink::Error when i >= size().
  const std::string& id(size_t i) const;
  const Bm25Params& params() const { return params_; }

 private:
  struct Posting {
    uint32_t doc;  // index in insertion order; postings of a term are sorted by it
    uint32_t tf;   // occurrences of the term in the document
  };

  Bm25Params params_;
  std::vector<std::string> ids_;
  std::vector<uint32_t> doc_len_;  // terms per document after analysis
  uint64_t total_len_ = 0;         // sum of doc_len_, for avgdl
  std::unordered_map<std::string, std::vector<Posting>> postings_;
};

}  // namespace kvlink
