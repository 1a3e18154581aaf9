// The serving engine: one model, one query session (its chunk cache store and prefill context), one
// answer queue in completion order (the batched decoder), and one thread that owns them all. HTTP
// threads hand it chat requests (submit) and document operations (call); the thread prefills waiting
// requests while a slot is free, then runs one decode step for every answer in the batch, publishes
// the new text and hands back the answers that ended: a request joins and leaves the batch at any
// step. A request that arrives during a step is prefilled between two of the step's graph nodes (the
// queue's interlude) while a slot is free, so its first token waits for one node, not for the step.
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "kvlink/answer/answer_queue.h"
#include "kvlink/answer/session.h"
#include "kvlink/serve/chat_stream.h"
#include "kvlink/serve/document_library.h"
#include "kvlink/serve/metrics.h"
#include "kvlink/serve/text_stream.h"

namespace kvlink {

struct EngineConfig {
  SessionConfig session;          // cache_dir is required
  std::string docs_dir;           // DocumentLibrary's rules for "", 0 and ""
  int32_t chunk_tokens = 0;
  std::string kv_type;
  int parallel = 4;               // answers decoded together
  int32_t ctx_size = 4096;        // cache rows of each answer: prompt plus generated tokens
  int32_t default_max_tokens = 256;
  PrefillOptions prefill;         // the default mode and alignment parameters
};

class Engine {
 public:
  Engine(const Model& model, const EngineConfig& config, ServerMetrics& metrics);
  ~Engine();  // shutdown(0)

  const EngineConfig& config() const { return config_; }
  // Queues a request; its events arrive on the returned stream. After shutdown: FAILED, 503.
  std::shared_ptr<ChatStream> submit(ChatRequest request);
  // Runs `f` on the engine's thread between two steps and waits; its exception is rethrown here.
  void call(const std::function<void(DocumentLibrary&)>& f);
  // Stops taking requests (those waiting fail with 503), lets the answers in flight run for up to
  // grace_s seconds, cancels the rest, and joins the thread.
  void shutdown(double grace_s);

 private:
  struct Waiting {
    ChatRequest request;
    std::shared_ptr<ChatStream> stream;
  };
  struct InFlight {
    std::shared_ptr<ChatStream> stream;
    TextStream text;
    ChatUsage usage;
  };
  using Job = std::function<void()>;

  void loop();
  bool has_work() const;  // under mu_
  std::unique_ptr<AnswerQueue> make_queue();
  void admit();
  void start(Waiting& w);
  AnswerQueue::Ticket start_documents(const ChatRequest& r, ChatUsage& usage);
  AnswerQueue::Ticket start_plain(const ChatRequest& r, ChatUsage& usage);
  int32_t max_tokens_for(const ChatRequest& r, int32_t n_prompt) const;
  void publish();
  void publish(AnswerQueue::Ticket ticket, InFlight& f);
  void finish(AnswerQueue::Done& done);
  void fail_waiting(const std::string& why);

  const Model& model_;
  EngineConfig config_;
  ServerMetrics& metrics_;
  DocumentLibrary library_;
  QuerySession session_;
  std::unique_ptr<AnswerQueue> queue_;
  std::map<AnswerQueue::Ticket, InFlight> in_flight_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Waiting> waiting_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  Clock::time_point cancel_at_;
  std::thread thread_;
};

}  // namespace kvlink
