// Batched decoding (llama.cpp's parallel sequences): sequences whose prompts were prefilled one at a
// time in a Context continue together, one token each per forward pass. Each sequence lives in its own
// row range ("slot") of one shared KV cache, so a step reads the weights once for all of them and runs
// the matrix products over as many columns as there are sequences, while each token attends only to
// its own slot's rows. Greedy results match decoding each sequence alone, up to float summation
// order in the matrix products (tests/test_batch_decode.cpp).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/context.h"
#include "model/generate.h"
#include "tensor/arena.h"
#include "tensor/clock.h"

namespace kvlink {

class BatchDecoder {
 public:
  struct Finished {
    uint64_t tag = 0;
    GenerateResult result;  // decode_ms: wall time from admission to the end, shared with the other slots
  };

  // n_slots sequences of at most slot_rows cache rows each (prompt plus generated tokens).
  BatchDecoder(const Model& model, int n_slots, int32_t slot_rows, int n_threads);

  int n_slots() const { return static_cast<int>(slots_.size()); }
  int32_t slot_rows() const { return slot_rows_; }
  int n_active() const;
  bool has_free_slot() const { return n_active() < n_slots(); }
  // Whether a prompt of n_prompt rows plus n_predict new tokens fits a slot.
  bool fits(int32_t n_prompt, int32_t n_predict) const;

  // Takes over a sequence: `ctx` holds its prompt (rows 0..n_used-1, F16, positions equal to rows as
  // after any prefill here, or under ctx.view()), `seq` has sampled the first token, which is taken
  // at once (progress() shows it). The rows are copied, so ctx may be reused at once. Needs a free
  // slot and a prompt that fits one. If the sequence ends without any forward pass (end of
  // generation at once, n_predict reached) it is returned by the next step().
  void admit(const Context& ctx, SequenceDecoder seq, uint64_t tag);
  // One forward pass over every active sequence's last token; each samples and takes its next one.
  // Returns the sequences that ended: with this step's token, by cancellation, or at admission.
  std::vector<Finished> step();
  // Work to run between two nodes of every step's forward pass (a server's prefills of requests that
  // arrived during the step). It may admit() into a free slot: the step in progress computes only the
  // slots it began with, and the admitted sequence joins the next step. It must not step().
  void set_interlude(std::function<void()> interlude) { interlude_ = std::move(interlude); }
  // Steps until every sequence has ended.
  std::vector<Finished> drain();
  // The result so far of the active sequence `tag` (its text grows by a token per step, the token
  // sampled in that step); null when
  // no active sequence has that tag.
  const GenerateResult* progress(uint64_t tag) const;
  // Ends the active sequence `tag` before its next token: the next step() returns it with
  // `stop_reason` (a stop string seen, a client gone). False when no active sequence has that tag.
  bool cancel(uint64_t tag, const std::string& stop_reason);

 private:
  struct Slot {
    std::unique_ptr<SequenceDecoder> seq;  // null: free
    uint64_t tag = 0;
    bool more = true;       // the last token taken must run through the model (SequenceDecoder::advance)
    std::string cancelled;  // non-empty: end before the next token, with this stop reason
    int32_t n_used = 0;  // rows in use, from the slot's first row
    SequenceView view;   // the context's view at admission (APE's positions and context group)
    Clock::time_point admitted;
  };
  const Model& model_;
  int32_t slot_rows_;
  int n_threads_;
  KVCache cache_;
  Arena arena_;
  std::vector<Slot> slots_;
  std::function<void()> interlude_;
  bool stepping_ = false;  // inside step(): the interlude may not step again

  size_t active_slot(uint64_t tag) const;  // slots_.size() when none holds `tag`
  Finished release(Slot& slot);             // the slot's result; the slot is free
  void run(Graph& g);                       // the step's forward pass, with the interlude between nodes
};

}  // namespace kvlink
