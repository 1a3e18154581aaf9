// The answers in flight, decoded together and handed back in the order they were submitted: the
// shape of nano-vllm's Scheduler and step(). A prefilled answer joins one BatchDecoder (an answer
// too long for a slot, or every answer when parallel is 1, decodes alone at once); an answer that
// another one's computation already gives (kvlink without link tokens is reencode) is submitted as
// that one's twin and handed back with its result; an answer the caller already has (resumed from a
// file) is submitted as ready and handed back in its turn. kvlink-eval drives it (eval.cpp) in
// submission order; kvlink-server (kvlink/serve/engine) in completion order, with requests joining and
// leaving at any step, followed token by token (partial) and cancelled (cancel).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/batch_decode.h"
#include "model/generate.h"
#include "tensor/clock.h"

namespace kvlink {

class AnswerQueue {
 public:
  using Ticket = uint64_t;
  struct Done {
    Ticket ticket = 0;
    GenerateResult generation;  // empty for an answer submitted as ready
  };

  // SUBMISSION: answers are handed back in the order they were submitted (an evaluation's lines);
  // COMPLETION: as they end, and every answer decodes in the batch, even with parallel 1, so that it
  // can be followed and cancelled.
  enum class Order { SUBMISSION, COMPLETION };

  // parallel answers decoded together (1: each alone), each in a slot of slot_rows cache rows.
  AnswerQueue(const Model& model, int parallel, int32_t slot_rows, int n_threads, Order order = Order::SUBMISSION);

  // Whether an answer of n_prompt rows and n_predict new tokens decodes in the batch (else alone, at
  // submission); in completion order the caller must refuse the others.
  bool fits(int32_t n_prompt, int32_t n_predict) const { return decoder_ && decoder_->fits(n_prompt, n_predict); }
  bool has_free_slot() const { return decoder_ && decoder_->has_free_slot(); }
  // The answer so far of `t` while it decodes in the batch (null otherwise).
  const GenerateResult* partial(Ticket t) const { return decoder_ ? decoder_->progress(t) : nullptr; }
  // Ends `t` before its next token; it is handed back with `stop_reason`. False when `t` is not
  // decoding in the batch.
  bool cancel(Ticket t, const std::string& stop_reason) { return decoder_ && decoder_->cancel(t, stop_reason); }

  // Work between two nodes of every decode step (BatchDecoder::set_interlude): there, submit() admits
  // an answer while a slot is free (the step in progress leaves it alone), so a new request's prefill
  // and first token need not wait for the step. submit() refuses, there, an answer that needs room.
  void set_interlude(std::function<void()> interlude);
  // Steps the batch until a slot is free, so that no decoding falls inside the next answer's TTFT.
  void make_room();
  // A prefilled answer: `ctx` holds its prompt, `logits` its last position's logits, `so_far` its
  // result up to the prefill (n_prompt, prompt_ms), `t0` the moment it started (its TTFT's origin).
  // Samples its first token, then admits it to the batch, or decodes it alone when it does not fit.
  Ticket submit(Context& ctx, std::vector<float> logits, GenerateResult so_far, const GenerateOptions& gen,
                Clock::time_point t0);
  // An answer that `of`'s result gives; `of` must not have been handed back yet (see in_flight).
  Ticket submit_twin(Ticket of);
  Ticket submit_ready();
  bool in_flight(Ticket t) const {
    if (t >= next_ || results_.count(t) != 0) return false;
    return order_ == Order::SUBMISSION ? t >= next_out_ : partial(t) != nullptr;
  }

  // The answers whose turn has come: in submission order, those whose every earlier one is handed
  // back; in completion order, every finished one.
  std::vector<Done> ready();
  // One decode step of the batch, then ready().
  std::vector<Done> step();
  // Steps until every answer is back; returns them in order.
  std::vector<Done> drain();
  bool empty() const { return n_out_ == next_; }

 private:
  void finished(Ticket t, GenerateResult g);

  std::unique_ptr<BatchDecoder> decoder_;
  const Model& model_;
  Order order_;
  Ticket next_ = 0, next_out_ = 0;  // next_out_: submission order's next answer to hand back
  uint64_t n_out_ = 0;              // answers handed back
  std::map<Ticket, GenerateResult> results_;        // finished, waiting for their turn
  std::map<Ticket, std::vector<Ticket>> twins_;     // in flight -> the twins waiting on it
};

}  // namespace kvlink
