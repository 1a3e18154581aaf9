// One chat request as the engine takes it (parsed from the HTTP body elsewhere), and the channel its
// answer comes back through: STARTED once its prompt is prefilled (or FAILED), then TEXT pieces as
// they may be shown (text_stream.h), then DONE with the whole text and the usage. The HTTP thread
// waits on it; the engine thread pushes; either side may cancel (a client gone).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kvlink/reuse/prompt.h"
#include "kvlink/reuse/reuse.h"
#include "model/chat_template.h"
#include "model/sampler.h"
#include "tensor/clock.h"

namespace kvlink {

struct ChatRequest {
  std::vector<ChatMessage> messages;
  // Documents to answer from (any of them makes it a question over documents): stored ids, inline
  // texts, and the top_k best stored chunks for the question by BM25.
  std::vector<std::string> document_ids;
  std::vector<ChunkText> inline_documents;
  size_t top_k = 0;
  std::optional<ReuseMode> mode;          // default: the server's --mode
  PrefillOptions alignment;               // recompute ratio, APE's T and S, EPIC's k (mode ignored)
  std::optional<int32_t> link_tokens;
  std::optional<int32_t> max_tokens;      // default: the server's -n, both capped by the context
  SamplerParams sampling;
  std::vector<std::string> stop;
  Clock::time_point arrival = Clock::now();
  bool with_documents() const { return !document_ids.empty() || !inline_documents.empty() || top_k > 0; }
};

struct ChatUsage {
  int32_t prompt_tokens = 0, completion_tokens = 0;
  int32_t tokens_reused = 0, tokens_computed = 0;  // prompt tokens read from caches / run through the model
  double ttft_ms = 0;     // arrival to the first token (queueing included)
  double queue_ms = 0;    // arrival to the start of its prefill
  double prefill_ms = 0;
  std::string mode;       // "full" for a chat without documents
  std::vector<std::string> documents;  // the sources of the chunks answered from
};

struct ChatEvent {
  enum class Kind { STARTED, TEXT, DONE, FAILED };
  Kind kind = Kind::TEXT;
  std::string text;           // TEXT: a piece; DONE: the whole answer; FAILED: the message
  std::string finish_reason;  // DONE: "stop", "length" or "cancelled"
  ChatUsage usage;            // DONE
  int status = 200;           // FAILED: 400 for bad input, 503 when shutting down, 500 otherwise
};

class ChatStream {
 public:
  void push(ChatEvent e);
  // The next event, or nullopt when none came within `timeout`.
  std::optional<ChatEvent> next(std::chrono::milliseconds timeout);
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ChatEvent> events_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace kvlink
