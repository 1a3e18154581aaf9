#include "kvlink/retrieval/bm25.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

#include "tensor/error.h"

namespace kvlink {
namespace {

bool is_term_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

bool is_stop_word(std::string_view term) {
  static constexpr std::string_view kStopWords[] = {"the", "a",   "an",   "of",   "and",  "or", "to",   "in",
                                                    "is",  "are", "was",  "were", "for",  "on", "with", "as",
                                                    "by",  "at",  "from", "that", "this", "it", "be"};
  return std::find(std::begin(kStopWords), std::end(kStopWords), term) != std::end(kStopWords);
}

}  // namespace

std::vector<std::string> bm25_terms(std::string_view text) {
  std::vector<std::string> terms;
  std::string term;
  auto flush = [&] {
    if (!term.empty() && !is_stop_word(term)) terms.push_back(term);
    term.clear();
  };
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (!is_term_byte(c)) {
      flush();
    } else {
      term.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : ch);
    }
  }
  flush();
  return terms;
}

void Bm25Index::add(std::string id, std::string_view text) {
  if (ids_.size() >= std::numeric_limits<uint32_t>::max()) throw Error("bm25: too many documents");
  const auto doc = static_cast<uint32_t>(ids_.size());
  const std::vector<std::string> terms = bm25_terms(text);
  std::unordered_map<std::string, uint32_t> tf;
  for (const std::string& t : terms) ++tf[t];
  for (auto& [term, count] : tf) postings_[term].push_back(Posting{doc, count});
  ids_.push_back(std::move(id));
  doc_len_.push_back(static_cast<uint32_t>(terms.size()));
  total_len_ += terms.size();
}

std::vector<std::pair<size_t, double>> Bm25Index::search(std::string_view query, size_t top_k) const {
  if (top_k == 0 || ids_.empty()) return {};
  // Distinct query terms in first-occurrence order, each with its count in the query.
  std::vector<std::pair<const std::vector<Posting>*, uint32_t>> query_terms;
  std::unordered_map<std::string, size_t> slot;
  for (const std::string& t : bm25_terms(query)) {
    const auto it = postings_.find(t);
    if (it == postings_.end()) continue;
    const auto [s, inserted] = slot.emplace(t, query_terms.size());
    if (inserted) query_terms.emplace_back(&it->second, 0);
    ++query_terms[s->second].second;
  }

  const double n_docs = static_cast<double>(ids_.size());
  const double avgdl = static_cast<double>(total_len_) / n_docs;
  const double k1 = params_.k1, b = params_.b;
  std::unordered_map<uint32_t, double> scores;
  for (const auto& [postings, query_tf] : query_terms) {
    const double df = static_cast<double>(postings->size());
    const double idf = std::log(1.0 + (n_docs - df + 0.5) / (df + 0.5));
    for (const Posting& p : *postings) {
      const double tf = p.tf;
      const double norm = k1 * (1.0 - b + b * static_cast<double>(doc_len_[p.doc]) / avgdl);
      scores[p.doc] += query_tf * (idf * tf * (k1 + 1.0) / (tf + norm));
    }
  }

  std::vector<std::pair<size_t, double>> ranked;
  ranked.reserve(scores.size());
  for (const auto& [doc, score] : scores) {
    if (score > 0.0) ranked.emplace_back(doc, score);
  }
  const auto better = [](const std::pair<size_t, double>& x, const std::pair<size_t, double>& y) {
    return x.second != y.second ? x.second > y.second : x.first < y.first;
  };
  const size_t keep = std::min(top_k, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(keep), ranked.end(), better);
  ranked.resize(keep);
  return ranked;
}

const std::string& Bm25Index::id(size_t i) const {
  if (i >= ids_.size()) {
    throw Error("bm25: document index " + std::to_string(i) + " out of range (" + std::to_string(ids_.size()) +
                " documents)");
  }
  return ids_[i];
}

}  // namespace kvlink
