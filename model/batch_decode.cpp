#include "model/batch_decode.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "tensor/clock.h"
#include "tensor/error.h"
#include "tensor/execute.h"

namespace kvlink {

BatchDecoder::BatchDecoder(const Model& model, int n_slots, int32_t slot_rows, int n_threads)
    : model_(model), slot_rows_(slot_rows), n_threads_(n_threads) {
  if (n_slots < 1 || slot_rows < 1) throw Error("batched decoding needs at least one slot of one row");
  const int64_t rows = static_cast<int64_t>(n_slots) * slot_rows;
  if (rows > INT32_MAX) throw Error("batched decoding: " + std::to_string(rows) + " cache rows are too many");
  cache_ = make_kv_cache(model.hp, static_cast<int32_t>(rows), DType::F16);
  slots_.resize(static_cast<size_t>(n_slots));
}

int BatchDecoder::n_active() const {
  return static_cast<int>(std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return s.seq != nullptr; }));
}

bool BatchDecoder::fits(int32_t n_prompt, int32_t n_predict) const {
  return n_prompt >= 0 && n_predict >= 0 && static_cast<int64_t>(n_prompt) + n_predict <= slot_rows_;
}

void BatchDecoder::admit(const Context& ctx, SequenceDecoder seq, uint64_t tag) {
  const KVCache& src = ctx.cache();
  if (src.type != cache_.type || src.width != cache_.width || src.k.size() != cache_.k.size()) {
    throw Error("batched decoding: the context's cache does not match the decoder's");
  }
  if (src.n_used > slot_rows_) {
    throw Error("batched decoding: a prompt of " + std::to_string(src.n_used) + " rows does not fit a slot of " +
                std::to_string(slot_rows_));
  }
  auto free_slot = std::find_if(slots_.begin(), slots_.end(), [](const Slot& s) { return s.seq == nullptr; });
  if (free_slot == slots_.end()) throw Error("batched decoding: no free slot");
  const size_t first = static_cast<size_t>(free_slot - slots_.begin()) * static_cast<size_t>(slot_rows_);
  const size_t bytes = static_cast<size_t>(src.n_used) * src.row_bytes();
  for (size_t l = 0; l < src.k.size(); ++l) {
    std::memcpy(cache_.k[l].data() + first * cache_.row_bytes(), src.k[l].data(), bytes);
    std::memcpy(cache_.v[l].data() + first * cache_.row_bytes(), src.v[l].data(), bytes);
  }
  free_slot->seq = std::make_unique<SequenceDecoder>(std::move(seq));
  free_slot->more = free_slot->seq->advance(src.n_used, slot_rows_);  // its first token, shown at once
  free_slot->tag = tag;
  free_slot->n_used = src.n_used;
  free_slot->view = ctx.view();
  free_slot->admitted = Clock::now();
}

BatchDecoder::Finished BatchDecoder::release(Slot& slot) {
  GenerateResult r = std::move(slot.seq->result());
  if (!slot.cancelled.empty()) r.stop_reason = slot.cancelled;
  r.decode_ms = ms_since(slot.admitted);
  slot.seq.reset();
  slot.cancelled.clear();
  return Finished{slot.tag, std::move(r)};
}

std::vector<BatchDecoder::Finished> BatchDecoder::step() {
  if (stepping_) throw Error("batched decoding: a step inside a step's interlude");
  std::vector<Finished> done;
  Batch batch;
  std::vector<size_t> in_batch;  // slot of each batch token
  for (size_t s = 0; s < slots_.size(); ++s) {
    Slot& slot = slots_[s];
    if (!slot.seq) continue;
    if (!slot.cancelled.empty() || !slot.more) {  // cancelled, or ended at admission
      done.push_back(release(slot));
      continue;
    }
    const int32_t first = static_cast<int32_t>(s) * slot_rows_;
    batch.tokens.push_back(slot.seq->next());
    batch.positions.push_back(slot.n_used);
    batch.rows.push_back(first + slot.n_used);
    batch.seq_first_rows.push_back(first);
    if (!slot.view.ordinary()) apply_sequence_view(batch, in_batch.size(), slot.view, first);
    batch.output_rows.push_back(static_cast<int32_t>(in_batch.size()));
    in_batch.push_back(s);
  }
  if (in_batch.empty()) return done;
  Graph g;
  Tensor* logits = build_llama_graph(g, model_, cache_, batch);
  run(g);
  const auto n_vocab = static_cast<size_t>(model_.hp.n_vocab);
  std::vector<float> row(n_vocab);
  for (size_t i = 0; i < in_batch.size(); ++i) {
    Slot& slot = slots_[in_batch[i]];
    std::memcpy(row.data(), static_cast<const float*>(logits->data) + i * n_vocab, n_vocab * sizeof(float));
    ++slot.n_used;
    ++slot.seq->result().n_decode_steps;
    slot.seq->sample(row);
    // The token is taken at once (its text visible to progress()); a sequence that ends with it
    // leaves the batch in this step, freeing its slot.
    if (!slot.seq->advance(slot.n_used, slot_rows_)) done.push_back(release(slot));
  }
  return done;
}

void BatchDecoder::run(Graph& g) {
  ExecOptions exec{n_threads_};
  if (interlude_) exec.between_nodes = &interlude_;
  struct Stepping {  // stepping_ for the forward pass's duration, however it ends
    bool& flag;
    ~Stepping() { flag = false; }
  } stepping{stepping_ = true};
  execute(g, arena_, exec);
}

size_t BatchDecoder::active_slot(uint64_t tag) const {
  auto it = std::find_if(slots_.begin(), slots_.end(), [&](const Slot& s) { return s.seq && s.tag == tag; });
  return static_cast<size_t>(it - slots_.begin());
}

const GenerateResult* BatchDecoder::progress(uint64_t tag) const {
  const size_t s = active_slot(tag);
  return s < slots_.size() ? &slots_[s].seq->result() : nullptr;
}

bool BatchDecoder::cancel(uint64_t tag, const std::string& stop_reason) {
  if (stop_reason.empty()) throw Error("batched decoding: a cancellation needs a stop reason");
  const size_t s = active_slot(tag);
  if (s == slots_.size()) return false;
  slots_[s].cancelled = stop_reason;
  return true;
}

std::vector<BatchDecoder::Finished> BatchDecoder::drain() {
  std::vector<Finished> all;
  while (n_active() > 0) {
    for (Finished& f : step()) all.push_back(std::move(f));
  }
  return all;
}

}  // namespace kvlink
