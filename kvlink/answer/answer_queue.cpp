#include "kvlink/answer/answer_queue.h"

#include <string>

#include "tensor/error.h"

namespace kvlink {

AnswerQueue::AnswerQueue(const Model& model, int parallel, int32_t slot_rows, int n_threads, Order order)
    : model_(model), order_(order) {
  if (parallel > 1 || order == Order::COMPLETION) {
    decoder_ = std::make_unique<BatchDecoder>(model, parallel, slot_rows, n_threads);
  }
}

void AnswerQueue::set_interlude(std::function<void()> interlude) {
  if (!decoder_) throw Error("answer queue: an interlude needs a batch");
  decoder_->set_interlude(std::move(interlude));
}

void AnswerQueue::make_room() {
  while (decoder_ && !decoder_->has_free_slot()) {
    for (BatchDecoder::Finished& f : decoder_->step()) finished(f.tag, std::move(f.result));
  }
}

AnswerQueue::Ticket AnswerQueue::submit(Context& ctx, std::vector<float> logits, GenerateResult so_far,
                                        const GenerateOptions& gen, Clock::time_point t0) {
  if (order_ == Order::COMPLETION && !fits(ctx.cache().n_used, gen.n_predict)) {
    throw Error("answer queue: an answer that does not fit a slot (" + std::to_string(ctx.cache().n_used) + " + " +
                std::to_string(gen.n_predict) + " rows)");
  }
  const Ticket t = next_++;
  if (!decoder_ || !decoder_->fits(ctx.cache().n_used, gen.n_predict)) {
    decode_after_prefill(ctx, std::move(logits), gen, {}, t0, so_far);
    finished(t, std::move(so_far));
    return t;
  }
  make_room();
  SequenceDecoder seq(model_, gen, std::move(so_far));
  seq.sample(logits);
  seq.result().ttft_ms = ms_since(t0);
  decoder_->admit(ctx, std::move(seq), t);
  return t;
}

AnswerQueue::Ticket AnswerQueue::submit_twin(Ticket of) {
  if (!in_flight(of)) throw Error("answer queue: a twin of an answer that is not in flight");
  const Ticket t = next_++;
  twins_[of].push_back(t);
  return t;
}

AnswerQueue::Ticket AnswerQueue::submit_ready() {
  const Ticket t = next_++;
  results_.emplace(t, GenerateResult{});
  return t;
}

void AnswerQueue::finished(Ticket t, GenerateResult g) {
  const auto twins = twins_.find(t);
  if (twins != twins_.end()) {
    for (Ticket twin : twins->second) results_.emplace(twin, g);
    twins_.erase(twins);
  }
  results_.emplace(t, std::move(g));
}

std::vector<AnswerQueue::Done> AnswerQueue::ready() {
  std::vector<Done> out;
  const bool in_order = order_ == Order::SUBMISSION;
  for (auto it = results_.begin(); it != results_.end() && (!in_order || it->first == next_out_);
       it = results_.erase(it)) {
    out.push_back(Done{it->first, std::move(it->second)});
    if (in_order) ++next_out_;
  }
  n_out_ += out.size();
  return out;
}

std::vector<AnswerQueue::Done> AnswerQueue::step() {
  if (decoder_ && decoder_->n_active() > 0) {
    for (BatchDecoder::Finished& f : decoder_->step()) finished(f.tag, std::move(f.result));
  }
  return ready();
}

std::vector<AnswerQueue::Done> AnswerQueue::drain() {
  std::vector<Done> out;
  while (!empty()) {
    if (!decoder_ || decoder_->n_active() == 0) {
      const bool none_ready = results_.empty() || (order_ == Order::SUBMISSION && results_.begin()->first != next_out_);
      if (none_ready) throw Error("answer queue: an answer was lost");
    }
    for (Done& d : step()) out.push_back(std::move(d));
  }
  return out;
}

}  // namespace kvlink
