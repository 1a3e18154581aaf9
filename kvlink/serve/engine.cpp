#include "kvlink/serve/engine.h"

#include <algorithm>
#include <future>

#include <unistd.h>

#include "tensor/error.h"

namespace kvlink {

namespace {

SessionConfig session_config(const EngineConfig& c, const DocumentLibrary& library) {
  SessionConfig s = c.session;
  s.cache_type = library.kv_type();  // the caches the library's manifest lists
  s.allow_unstored = true;           // a cache that cannot be stored still answers
  return s;
}

// The configuration, checked before anything is allocated: the context within the model's, and the
// batch's KV cache (parallel x ctx-size rows, F16 keys and values) within the machine's memory.
const EngineConfig& checked(const EngineConfig& c, const Model& model) {
  if (c.ctx_size < 16 || c.ctx_size > model.hp.n_ctx_train) {
    throw Error("the context size must be 16.." + std::to_string(model.hp.n_ctx_train) + " tokens");
  }
  check_prefill_options(c.prefill);
  const double bytes = 2.0 * 2 * model.hp.n_layer * model.hp.kv_width() * static_cast<double>(c.parallel) * c.ctx_size;
  const double memory = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE));
  if (memory > 0 && bytes > 0.75 * memory) {
    throw Error("--parallel " + std::to_string(c.parallel) + " x --ctx-size " + std::to_string(c.ctx_size) + " needs " +
                std::to_string(static_cast<int>(bytes / (1 << 30))) + " GiB of KV cache; the machine has " +
                std::to_string(static_cast<int>(memory / (1 << 30))) + " GiB");
  }
  return c;
}

ChatEvent failed(int status, const std::string& message) {
  ChatEvent e;
  e.kind = ChatEvent::Kind::FAILED;
  e.status = status;
  e.text = message;
  return e;
}

}  // namespace

Engine::Engine(const Model& model, const EngineConfig& config, ServerMetrics& metrics)
    : model_(model),
      config_(checked(config, model)),
      metrics_(metrics),
      library_(model, config.session.cache_dir, config.docs_dir, config.chunk_tokens, config.kv_type,
               config.session.n_threads),
      session_(model, session_config(config, library_)),
      queue_(make_queue()) {
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() { shutdown(0); }

std::unique_ptr<AnswerQueue> Engine::make_queue() {
  auto queue = std::make_unique<AnswerQueue>(model_, config_.parallel, config_.ctx_size, config_.session.n_threads,
                                             AnswerQueue::Order::COMPLETION);
  // Between two nodes of every decode step: admit() (a no-op unless a request waits and a slot is
  // free; it takes mu_ once per node, uncontended).
  queue->set_interlude([this] { admit(); });
  return queue;
}

std::shared_ptr<ChatStream> Engine::submit(ChatRequest request) {
  auto stream = std::make_shared<ChatStream>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      stream->push(failed(503, "the server is shutting down"));
      return stream;
    }
    waiting_.push_back(Waiting{std::move(request), stream});
  }
  cv_.notify_one();
  return stream;
}

void Engine::call(const std::function<void(DocumentLibrary&)>& f) {
  std::promise<void> done;
  std::future<void> result = done.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) throw Error("the server is shutting down");
    jobs_.push_back([&] {
      try {
        f(library_);
        done.set_value();
      } catch (...) {
        done.set_exception(std::current_exception());
      }
    });
  }
  cv_.notify_one();
  result.get();
}

void Engine::shutdown(double grace_s) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
    cancel_at_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(grace_s));
  }
  cv_.notify_one();
  thread_.join();
}

bool Engine::has_work() const {
  return stopping_ || !jobs_.empty() || (!waiting_.empty() && queue_->has_free_slot()) || !queue_->empty();
}

void Engine::fail_waiting(const std::string& why) {
  for (Waiting& w : waiting_) {
    w.stream->push(failed(503, why));
    metrics_.record(RequestRecord{"error"});
  }
  waiting_.clear();
}

void Engine::loop() {
  for (;;) {
    std::deque<Job> jobs;
    bool stopping = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return has_work(); });
      jobs.swap(jobs_);
      stopping = stopping_;
      if (stopping) fail_waiting("the server is shutting down");
      if (stopping && jobs.empty() && queue_->empty()) return;
    }
    for (Job& job : jobs) job();
    if (stopping && Clock::now() >= cancel_at_) {
      for (auto& entry : in_flight_) queue_->cancel(entry.first, "cancelled");
    }
    admit();
    try {
      for (AnswerQueue::Done& done : queue_->step()) finish(done);
      publish();
    } catch (const std::exception& e) {  // a failed step loses every answer in the batch
      for (auto& entry : in_flight_) entry.second.stream->push(failed(500, e.what()));
      in_flight_.clear();
      queue_ = make_queue();
    }
    std::lock_guard<std::mutex> lock(mu_);
    metrics_.set_queue(static_cast<int64_t>(waiting_.size()), static_cast<int64_t>(in_flight_.size()));
  }
}

void Engine::admit() {
  while (queue_->has_free_slot()) {
    Waiting w;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (waiting_.empty() || stopping_) return;
      w = std::move(waiting_.front());
      waiting_.pop_front();
    }
    start(w);
  }
}

void Engine::start(Waiting& w) {
  if (w.stream->cancelled()) {
    metrics_.record(RequestRecord{"cancelled"});
    return;
  }
  InFlight f{w.stream, TextStream(w.request.stop), ChatUsage{}};
  f.usage.queue_ms = ms_since(w.request.arrival);
  try {
    const auto t0 = Clock::now();
    const AnswerQueue::Ticket t =
        w.request.with_documents() ? start_documents(w.request, f.usage) : start_plain(w.request, f.usage);
    f.usage.prefill_ms = ms_since(t0);
    f.usage.ttft_ms = ms_since(w.request.arrival);
    ChatEvent started;
    started.kind = ChatEvent::Kind::STARTED;
    started.usage = f.usage;
    f.stream->push(std::move(started));
    publish(t, in_flight_.emplace(t, std::move(f)).first->second);  // the first token, now
  } catch (const Error& e) {
    w.stream->push(failed(400, e.what()));
    metrics_.record(RequestRecord{"bad_request"});
  } catch (const std::exception& e) {
    w.stream->push(failed(500, e.what()));
    metrics_.record(RequestRecord{"error"});
  }
}

int32_t Engine::max_tokens_for(const ChatRequest& r, int32_t n_prompt) const {
  if (n_prompt >= config_.ctx_size) {
    throw Error("the prompt has " + std::to_string(n_prompt) + " tokens; the context holds " +
                std::to_string(config_.ctx_size));
  }
  const int32_t wanted = r.max_tokens.value_or(config_.default_max_tokens);
  if (wanted <= 0) throw Error("max_tokens must be at least 1");
  return std::min(wanted, config_.ctx_size - n_prompt);
}

AnswerQueue::Ticket Engine::start_documents(const ChatRequest& r, ChatUsage& usage) {
  std::string system, question;
  for (const ChatMessage& m : r.messages) {
    if (m.role == "system" && system.empty() && question.empty()) {
      system = m.content;
    } else if (m.role == "user" && question.empty()) {
      question = m.content;
    } else {
      throw Error("with documents, the messages are an optional system message and one user message (the question)");
    }
  }
  if (question.empty()) throw Error("with documents, the messages need a user message (the question)");
  std::vector<ChunkText> chunks;
  const auto take = [&](std::vector<ChunkText> more, const std::string& source) {
    for (ChunkText& c : more) chunks.push_back(std::move(c));
    usage.documents.push_back(source);
  };
  for (const std::string& id : r.document_ids) take(library_.chunks_of(id), id);
  for (const ChunkText& doc : r.inline_documents) take(library_.chunks_of_text(doc), "inline: " + doc.title);
  if (r.top_k > 0) {
    for (SourcedChunk& c : library_.top_k(question, r.top_k)) take({std::move(c.text)}, c.source);
  }
  PrefillOptions prefill = r.alignment;
  prefill.mode = r.mode.value_or(config_.prefill.mode);
  AnswerOptions ao = session_.options(prefill, 1, r.sampling, system, chunks.size(), r.link_tokens);
  // The session's context is one slot's size (allocated once), so the token budget follows from the
  // prompt the prefill lays out, without laying it out again here.
  std::vector<float> logits;
  Clock::time_point t0;
  AnswerResult a = session_.prefill(chunks, question, ao, &logits, &t0, config_.ctx_size);
  ao.n_predict = max_tokens_for(r, a.n_prompt);
  usage.mode = reuse_mode_name(a.mode);
  usage.prompt_tokens = a.n_prompt;
  usage.tokens_reused = a.reuse.tokens_reused;
  usage.tokens_computed = a.reuse.tokens_computed;
  return queue_->submit(session_.context(), std::move(logits), std::move(a.generation), answer_generate_options(ao), t0);
}

AnswerQueue::Ticket Engine::start_plain(const ChatRequest& r, ChatUsage& usage) {
  if (r.messages.empty()) throw Error("messages is empty");
  if (!model_.has_chat_template) throw Error("the model has no supported chat template");
  const std::vector<TokenId> tokens =
      model_.tokenizer.encode(model_.chat.render(r.messages, /*add_generation_prompt=*/true), true, true);
  GenerateOptions gen;
  gen.n_predict = max_tokens_for(r, static_cast<int32_t>(tokens.size()));
  gen.sampling = r.sampling;
  const auto t0 = Clock::now();
  std::vector<float> logits = session_.prefill_tokens(tokens, gen.n_predict, config_.ctx_size);
  GenerateResult so_far;
  so_far.n_prompt = static_cast<int32_t>(tokens.size());
  so_far.prompt_ms = ms_since(t0);
  usage.mode = "full";
  usage.prompt_tokens = so_far.n_prompt;
  usage.tokens_computed = so_far.n_prompt;
  return queue_->submit(session_.context(), std::move(logits), std::move(so_far), gen, t0);
}

void Engine::publish() {
  for (auto& [ticket, f] : in_flight_) publish(ticket, f);
}

void Engine::publish(AnswerQueue::Ticket ticket, InFlight& f) {
  if (f.stream->cancelled()) {
    queue_->cancel(ticket, "cancelled");
    return;
  }
  const GenerateResult* g = queue_->partial(ticket);
  if (!g) return;
  ChatEvent e;
  e.text = f.text.take(g->text, false);
  if (!e.text.empty()) f.stream->push(std::move(e));
  if (f.text.stopped()) queue_->cancel(ticket, "stop");
}

void Engine::finish(AnswerQueue::Done& done) {
  const auto it = in_flight_.find(done.ticket);
  if (it == in_flight_.end()) return;
  InFlight& f = it->second;
  const std::string& reason = done.generation.stop_reason;
  if (reason != "cancelled") {
    ChatEvent piece;
    piece.text = f.text.take(done.generation.text, true);
    if (!piece.text.empty()) f.stream->push(std::move(piece));
  }
  ChatEvent e;
  e.kind = ChatEvent::Kind::DONE;
  e.text = f.text.shown();
  e.finish_reason = reason == "cancelled" ? "cancelled" : (f.text.stopped() || reason == "eos") ? "stop" : "length";
  f.usage.completion_tokens = static_cast<int32_t>(done.generation.tokens.size());
  e.usage = f.usage;
  metrics_.record(RequestRecord{reason == "cancelled" ? "cancelled" : "ok", f.usage.ttft_ms, f.usage.tokens_reused,
                                f.usage.tokens_computed, f.usage.completion_tokens});
  f.stream->push(std::move(e));
  in_flight_.erase(it);
}

}  // namespace kvlink
