#include "kvlink/serve/metrics.h"

#include <sstream>

namespace kvlink {

void ServerMetrics::record(const RequestRecord& r) {
  std::lock_guard<std::mutex> lock(mu_);
  if (r.outcome == "ok") ++ok_;
  else if (r.outcome == "bad_request") ++bad_request_;
  else if (r.outcome == "cancelled") ++cancelled_;
  else ++error_;
  if (r.ttft_ms >= 0) {
    size_t b = 0;
    while (b < kTtftBucketsMs.size() && r.ttft_ms > kTtftBucketsMs[b]) ++b;
    ++ttft_buckets_[b];
    ttft_sum_ms_ += r.ttft_ms;
    ++ttft_count_;
  }
  reused_ += r.tokens_reused;
  computed_ += r.tokens_computed;
  generated_ += r.tokens_generated;
}

void ServerMetrics::set_queue(int64_t waiting, int64_t decoding) {
  std::lock_guard<std::mutex> lock(mu_);
  waiting_ = waiting;
  decoding_ = decoding;
}

std::string ServerMetrics::prometheus(int64_t cache_bytes) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream o;
  o << "# HELP kvlink_requests_total Chat completion requests by outcome.\n# TYPE kvlink_requests_total counter\n";
  o << "kvlink_requests_total{outcome=\"ok\"} " << ok_ << "\n";
  o << "kvlink_requests_total{outcome=\"bad_request\"} " << bad_request_ << "\n";
  o << "kvlink_requests_total{outcome=\"cancelled\"} " << cancelled_ << "\n";
  o << "kvlink_requests_total{outcome=\"error\"} " << error_ << "\n";
  o << "# HELP kvlink_ttft_seconds Time from a request's arrival to its first token.\n"
    << "# TYPE kvlink_ttft_seconds histogram\n";
  int64_t cumulative = 0;
  for (size_t b = 0; b < kTtftBucketsMs.size(); ++b) {
    cumulative += ttft_buckets_[b];
    o << "kvlink_ttft_seconds_bucket{le=\"" << kTtftBucketsMs[b] / 1000 << "\"} " << cumulative << "\n";
  }
  o << "kvlink_ttft_seconds_bucket{le=\"+Inf\"} " << cumulative + ttft_buckets_.back() << "\n";
  o << "kvlink_ttft_seconds_sum " << ttft_sum_ms_ / 1000 << "\nkvlink_ttft_seconds_count " << ttft_count_ << "\n";
  o << "# HELP kvlink_prompt_tokens_reused_total Prompt tokens read from document caches.\n"
    << "# TYPE kvlink_prompt_tokens_reused_total counter\nkvlink_prompt_tokens_reused_total " << reused_ << "\n";
  o << "# HELP kvlink_prompt_tokens_computed_total Prompt tokens run through the model.\n"
    << "# TYPE kvlink_prompt_tokens_computed_total counter\nkvlink_prompt_tokens_computed_total " << computed_ << "\n";
  o << "# HELP kvlink_tokens_generated_total Tokens generated.\n"
    << "# TYPE kvlink_tokens_generated_total counter\nkvlink_tokens_generated_total " << generated_ << "\n";
  o << "# HELP kvlink_queue_waiting Requests waiting for a slot.\n# TYPE kvlink_queue_waiting gauge\nkvlink_queue_waiting "
    << waiting_ << "\n";
  o << "# HELP kvlink_queue_decoding Answers decoding in the batch.\n# TYPE kvlink_queue_decoding gauge\n"
    << "kvlink_queue_decoding " << decoding_ << "\n";
  o << "# HELP kvlink_cache_bytes Bytes in the cache directory.\n# TYPE kvlink_cache_bytes gauge\nkvlink_cache_bytes "
    << cache_bytes << "\n";
  return o.str();
}

}  // namespace kvlink
