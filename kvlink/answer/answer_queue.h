// The answers in flight, decoded together and handed back in the order they were submitted: the
// shape of nano-vllm's Scheduler and step(). A prefilled answer joins one BatchDecoder (an answer
// too long for a slot, or every answer when parallel is 1, decodes alone at once); an answer that
// another one's computation already gives (kvlink without link tokens is reencode) is submitted as
// that one's twin and handed back with its result; an answer the caller already has (resumed from a
// file) is submitted as ready and handed back in its turn. kvlink-eval drives it (eval.cpp); a server
// drives the same calls with requests joining and leaving at any step.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
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

  // parallel answers decoded together (1: each alone), each in a slot of slot_rows cache rows.
  AnswerQueue(const Model& model, int parallel, int32_t slot_rows, int n_threads);

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
  bool in_flight(Ticket t) const { return results_.count(t) == 0 && t < next_ && t >= next_out_; }

  // The answers whose turn has come (every earlier one handed back), in submission order.
  std::vector<Done> ready();
  // One decode step of the batch, then ready().
  std::vector<Done> step();
  // Steps until every answer is back; returns them in order.
  std::vector<Done> drain();
  bool empty() const { return next_out_ == next_; }

 private:
  void finished(Ticket t, GenerateResult g);

  std::unique_ptr<BatchDecoder> decoder_;
  const Model& model_;
  Ticket next_ = 0, next_out_ = 0;
  std::map<Ticket, GenerateResult> results_;        // finished, waiting for their turn
  std::map<Ticket, std::vector<Ticket>> twins_;     // in flight -> the twins waiting on it
};

}  // namespace kvlink
