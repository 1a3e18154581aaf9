// The server's counters, exposed in the Prometheus text format (GET /metrics): requests by outcome,
// a TTFT histogram, prompt tokens reused and computed, tokens generated, the queue and the batch.
// Thread-safe: the engine records, any HTTP thread renders.
#pragma once
#include <array>
#include <cstdint>
#include <mutex>
#include <string>

namespace kvlink {

struct RequestRecord {
  std::string outcome;  // "ok", "bad_request", "cancelled", "error"
  double ttft_ms = -1;  // < 0: no token was produced
  int64_t tokens_reused = 0, tokens_computed = 0, tokens_generated = 0;
};

class ServerMetrics {
 public:
  static constexpr std::array<double, 10> kTtftBucketsMs = {25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000};

  void record(const RequestRecord& r);
  void set_queue(int64_t waiting, int64_t decoding);
  // `cache_bytes`: the cache directory's size now (the caller measures it).
  std::string prometheus(int64_t cache_bytes) const;

 private:
  mutable std::mutex mu_;
  int64_t ok_ = 0, bad_request_ = 0, cancelled_ = 0, error_ = 0;
  std::array<int64_t, kTtftBucketsMs.size() + 1> ttft_buckets_{};  // the last: +Inf
  double ttft_sum_ms_ = 0;
  int64_t ttft_count_ = 0;
  int64_t reused_ = 0, computed_ = 0, generated_ = 0;
  int64_t waiting_ = 0, decoding_ = 0;
};

}  // namespace kvlink
