// Byte-pair merging: the (left, right) -> merged token table read from tokenizer.ggml.merges and
// the loop that applies it to one word. Merges apply lowest rank first and, among equal ranks,
// leftmost first (the order of HF tokenizers' BPE model and of GPT-2's encoder).
#pragma once
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace kvlink {

struct BpeMerge {
  int32_t rank = 0;    // index in tokenizer.ggml.merges: lower merges first
  int32_t result = 0;  // token id of left + right
};

class BpeMergeTable {
 public:
  // A pair listed twice keeps its first (best) rank.
  void add(int32_t left, int32_t right, int32_t rank, int32_t result);
  const BpeMerge* find(int32_t left, int32_t right) const {
    auto it = table_.find(key(left, right));
    return it == table_.end() ? nullptr : &it->second;
  }
  size_t size() const { return table_.size(); }

 private:
  static uint64_t key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  std::unordered_map<uint64_t, BpeMerge> table_;
};

// Merges `symbols` (token ids, one per initial piece) in place until no adjacent pair has a merge.
// Picks the scan or the heap version by length; both give the same result.
void bpe_apply_merges(const BpeMergeTable& merges, std::vector<int32_t>& symbols);
// O(n^2) rescans of a rank array: fastest for the short words that make up most text.
void bpe_apply_merges_scan(const BpeMergeTable& merges, std::vector<int32_t>& symbols);
// O(n log n) with a heap over a linked list: for long words (runs of spaces, long URLs).
void bpe_apply_merges_heap(const BpeMergeTable& merges, std::vector<int32_t>& symbols);

}  // namespace kvlink
