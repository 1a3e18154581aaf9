// Helpers the benchmark programs share: the median of a sample, elapsed seconds, and a prompt of
// exactly n tokens of varied English prose.
#pragma once
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "model/llama_model.h"

namespace kvlink_bench {

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// n tokens of a fixed paragraph, repeated as needed, starting `offset` tokens into it (different
// offsets give different prompts of the same length).
inline std::vector<kvlink::TokenId> prompt_of(const kvlink::Model& m, int n, int offset = 0) {
  const std::string text =
      "The river town kept its old stone bridge long after the railway arrived. Merchants crossed it at dawn "
      "with carts of apples, wool and salt, and the toll keeper wrote each load into a ledger that still survives. "
      "In 1887 a flood carried away two arches; the town rebuilt them in brick, which is why the bridge looks "
      "patched today. Visitors now come for the market on Saturdays, the museum of river trades, and the walk "
      "along the towpath to the lock, where herons fish in the shallows beside the weir. ";
  const std::vector<kvlink::TokenId> base = m.tokenizer.encode(text, false, false);
  std::vector<kvlink::TokenId> out;
  for (size_t k = static_cast<size_t>(offset); static_cast<int>(out.size()) < n; ++k) out.push_back(base[k % base.size()]);
  return out;
}

}  // namespace kvlink_bench
